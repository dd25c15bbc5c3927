//! The `CreateServer` hardware report from SMBIOS, disks and NICs (spec §7.2 step 6), as pure
//! functions.

use sidero_proto::api;
use sidero_smbios::Smbios;

use crate::disks::{self, Disk};
use crate::nics::{self, Nic};

fn s(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// System information; SMBIOS's `version` is not sent, as upstream does not.
pub fn system(smbios: &Smbios) -> api::SystemInformation {
    let sys = smbios.system.clone().unwrap_or_default();
    api::SystemInformation {
        uuid: s(&sys.uuid),
        manufacturer: s(&sys.manufacturer),
        product_name: s(&sys.product_name),
        version: String::new(),
        serial_number: s(&sys.serial_number),
        sku_number: s(&sys.sku_number),
        family: s(&sys.family),
    }
}

/// Populated processor sockets with summed core and thread counts.
pub fn compute(smbios: &Smbios) -> api::ComputeInformation {
    let processors: Vec<api::Processor> = smbios
        .processors
        .iter()
        .filter(|p| p.populated)
        .map(|p| api::Processor {
            manufacturer: s(&p.manufacturer),
            product_name: s(&p.version),
            serial_number: s(&p.serial_number),
            speed: u32::from(p.current_speed_mhz.unwrap_or(0)),
            core_count: u32::from(p.core_count.unwrap_or(0)),
            thread_count: u32::from(p.thread_count.unwrap_or(0)),
        })
        .collect();
    api::ComputeInformation {
        total_core_count: processors.iter().map(|p| p.core_count).sum(),
        total_thread_count: processors.iter().map(|p| p.thread_count).sum(),
        processor_count: count(processors.len()),
        processors,
    }
}

/// Installed memory modules (size word not 0 or 0xFFFF), sizes in MiB.
pub fn memory(smbios: &Smbios) -> api::MemoryInformation {
    let modules: Vec<api::MemoryModule> = smbios
        .memory_devices
        .iter()
        .filter(|m| !matches!(m.size_raw, None | Some(0) | Some(0xFFFF)))
        .map(|m| api::MemoryModule {
            manufacturer: s(&m.manufacturer),
            product_name: s(&m.part_number),
            serial_number: s(&m.serial_number),
            r#type: m.type_name().to_string(),
            size: m.size_mb.unwrap_or(0),
            speed: m.speed_mts.unwrap_or(0),
        })
        .collect();
    api::MemoryInformation {
        total_size: modules.iter().map(|m| m.size).fold(0, u32::saturating_add),
        module_count: count(modules.len()),
        modules,
    }
}

/// The whole report.
pub fn report(smbios: &Smbios, disks: &[Disk], nics: &[Nic]) -> api::HardwareInformation {
    api::HardwareInformation {
        system: Some(system(smbios)),
        compute: Some(compute(smbios)),
        memory: Some(memory(smbios)),
        storage: Some(disks::to_proto(disks)),
        network: Some(nics::to_proto(nics)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use sidero_smbios::fixtures;

    fn parsed(f: fixtures::Fixture) -> Smbios {
        sidero_smbios::parse(&f.entry_point, &f.table).unwrap()
    }

    #[test]
    fn dell_two_sockets_and_empty_slots() {
        let sm = parsed(fixtures::dell_r640());
        let c = compute(&sm);
        assert_eq!(
            (c.processor_count, c.total_core_count, c.total_thread_count),
            (2, 32, 64)
        );
        assert_eq!(c.processors[0].speed, 2100);
        assert_eq!(
            c.processors[0].product_name,
            "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz"
        );
        let m = memory(&sm);
        assert_eq!((m.module_count, m.total_size), (2, 65536));
        assert_eq!(m.modules[0].product_name, "HMA84GR7CJR4N-VK");
        assert_eq!(
            (m.modules[0].r#type.as_str(), m.modules[0].speed),
            ("DDR4", 2666)
        );
        let sys = system(&sm);
        assert_eq!(sys.uuid, "4c4c4544-0038-5210-804b-b4c04f4e3132");
        assert_eq!(sys.version, "", "not sent");
        assert_eq!(sys.family, "PowerEdge");
    }

    #[test]
    fn hpe_unpopulated_socket_is_not_sent() {
        let sm = parsed(fixtures::hpe_dl380());
        let c = compute(&sm);
        assert_eq!((c.processor_count, c.total_core_count), (1, 20));
        let m = memory(&sm);
        assert_eq!((m.module_count, m.total_size), (2, 131072));
    }

    #[test]
    fn supermicro_extended_counts() {
        let c = compute(&parsed(fixtures::supermicro_h13()));
        assert_eq!((c.total_core_count, c.total_thread_count), (128, 256));
    }

    #[test]
    fn empty_smbios_reports_empty_sections() {
        let r = report(&Smbios::default(), &[], &[]);
        assert_eq!(r.system.unwrap().uuid, "");
        assert_eq!(r.compute.unwrap().processor_count, 0);
        assert_eq!(r.memory.unwrap().module_count, 0);
        assert_eq!(r.storage.unwrap().device_count, 0);
    }
}
