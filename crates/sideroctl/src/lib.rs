//! `sideroctl` as a library: the command implementations that other tools and tests can drive
//! in-process (today `logs`; `power` lives in the binary).

pub mod logs;
