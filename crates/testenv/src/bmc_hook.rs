//! The `chassis_control` hook that makes an `ipmi_sim` BMC power a QEMU machine: `set power 1`
//! starts the VM (daemonized, PID in `state/vm.pid`), `set power 0` stops it, `get power` is
//! "the VM process exists"; every `set` is appended to `state/log`, the boot device is kept
//! in `state/boot`.
//!
//! Writing `simulated` into `state/mode` turns the machine into one whose operating system is
//! simulated elsewhere (the lab's Talos node simulator, as there are no Talos images offline):
//! power is then only recorded in `state/power`, and whoever watches that file boots the
//! simulated node when it turns `1`.

use std::path::Path;

use crate::Error;

/// The mode file's content that switches the hook to a simulated operating system.
pub const SIMULATED: &str = "simulated";

/// The hook script for a machine started with `qemu-system-x86_64 <qemu_args>`. Arguments
/// are single-quoted, so none may contain a single quote.
pub fn qemu_hook(qemu_args: &[String]) -> Result<String, Error> {
    let mut quoted = Vec::with_capacity(qemu_args.len());
    for a in qemu_args {
        if a.contains('\'') {
            return Err(Error::Process(format!("QEMU argument with a quote: {a}")));
        }
        quoted.push(format!("'{a}'"));
    }
    Ok(format!(
        r#"#!/bin/sh
D="$(dirname "$0")/state"
sim() {{ [ "$(cat "$D/mode" 2>/dev/null)" = {SIMULATED} ]; }}
alive() {{
  if sim; then [ "$(cat "$D/power" 2>/dev/null)" = 1 ]; return; fi
  [ -f "$D/vm.pid" ] && kill -0 "$(cat "$D/vm.pid")" 2>/dev/null
}}
start_vm() {{
  if sim; then echo 1 > "$D/power"; return; fi
  rm -f "$D/vm.pid"
  qemu-system-x86_64 {args} -daemonize -pidfile "$D/vm.pid" </dev/null >>"$D/qemu.out" 2>&1
}}
stop_vm() {{
  if sim; then echo 0 > "$D/power"; return; fi
  alive && kill "$(cat "$D/vm.pid")"
  for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do alive || break; sleep 0.1; done
  alive && kill -9 "$(cat "$D/vm.pid")"
  rm -f "$D/vm.pid"
}}
op=$2; shift 2
case $op in
 get) for p; do case $p in
        power) if alive; then echo power:1; else echo power:0; fi ;;
        boot)  echo "boot:$(cat "$D/boot" 2>/dev/null || echo default)" ;;
        *) echo "Invalid parameter: $p"; exit 1 ;; esac; done ;;
 set) while [ $# -gt 0 ]; do p=$1; v=$2; shift 2; echo "$p $v" >> "$D/log"; case $p in
        power) if [ "$v" = 1 ]; then alive || start_vm; else stop_vm; fi ;;
        reset) ;;
        boot) echo "$v" > "$D/boot" ;;
        shutdown) stop_vm ;;
        identify) shift ;;
        *) echo "Invalid parameter: $p"; exit 1 ;; esac; done ;;
 *) exit 1 ;;
esac
"#,
        args = quoted.join(" ")
    ))
}

/// The VM's PID from the hook's state folder, if it recorded one.
pub fn vm_pid(state: &Path) -> Option<u32> {
    std::fs::read_to_string(state.join("vm.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether process `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Switches the hook in `state` to the simulated operating system (see the module docs).
pub fn simulate_os(state: &Path) -> Result<(), Error> {
    std::fs::write(state.join("mode"), SIMULATED)
        .map_err(|e| Error::io(format!("writing {}/mode", state.display()), e))
}

/// Whether the simulated machine in `state` is powered on.
pub fn simulated_power_on(state: &Path) -> bool {
    std::fs::read_to_string(state.join("power")).is_ok_and(|p| p.trim() == "1")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_and_quotes_refused() {
        let hook = qemu_hook(&["-m".into(), "type=1,product=lab cp".into()]).unwrap();
        assert!(hook.contains("qemu-system-x86_64 '-m' 'type=1,product=lab cp' -daemonize"));
        assert!(qemu_hook(&["it's".into()]).is_err());
    }

    /// The hook run by hand as ipmi_sim runs it: QEMU mode ends at `start_vm` (no QEMU
    /// here), so only the simulated mode is exercised.
    #[test]
    fn simulated_power_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let hook = dir.path().join("chassis.sh");
        std::fs::write(&hook, qemu_hook(&[]).unwrap()).unwrap();
        let state = dir.path().join("state");
        simulate_os(&state).unwrap();
        let sh = |args: &[&str]| {
            let out = std::process::Command::new("sh")
                .arg(&hook)
                .args(args)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(sh(&["0x20", "get", "power"]), "power:0\n");
        assert!(!simulated_power_on(&state));
        sh(&["0x20", "set", "boot", "pxe", "power", "1"]);
        assert!(simulated_power_on(&state));
        assert_eq!(sh(&["0x20", "get", "power", "boot"]), "power:1\nboot:pxe\n");
        sh(&["0x20", "set", "power", "0"]);
        assert!(!simulated_power_on(&state));
        let log = std::fs::read_to_string(state.join("log")).unwrap();
        assert_eq!(log, "boot pxe\npower 1\npower 0\n");
    }
}
