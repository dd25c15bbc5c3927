//! Network boot content and decisions of Sidero Metal, with no IO: kernel command lines,
//! iPXE scripts, patching the embedded script into iPXE binaries, and the `/ipxe` decision.

pub mod args;
pub mod boot;
pub mod cmdline;
pub mod patch;
pub mod script;
pub mod token;
