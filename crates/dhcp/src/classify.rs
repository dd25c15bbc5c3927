//! Client firmware classification (spec §5.1): option 93 (client system architecture),
//! option 77 (user class) and option 97 (client machine identifier).

use std::fmt;

use crate::packet::{MalformedPacket, Request};
use crate::respond::Ignored;

/// Option 93: client system architecture (RFC 4578).
pub const OPT_CLIENT_ARCH: u8 = 93;
/// Option 77: user class (RFC 3004).
pub const OPT_USER_CLASS: u8 = 77;
/// Option 97: client machine identifier, the PXE GUID (RFC 4578).
pub const OPT_CLIENT_GUID: u8 = 97;

/// The firmware classes of spec §5.1; each has its own boot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FirmwareClass {
    /// x86 BIOS PXE (option 93 value 0).
    X86Bios,
    /// x86 BIOS whose PXE stack is already iPXE (value 0 and user class `iPXE`).
    X86BiosIpxe,
    /// x86 UEFI PXE (values 6, 7, 9).
    X86Uefi,
    /// ARM64 UEFI PXE (value 11).
    Arm64Uefi,
    /// x86 UEFI HTTP boot (values 15, 16).
    X86UefiHttp,
    /// ARM64 UEFI HTTP boot (value 19).
    Arm64UefiHttp,
}

impl FirmwareClass {
    /// Every class, in table order.
    pub const ALL: [FirmwareClass; 6] = [
        FirmwareClass::X86Bios,
        FirmwareClass::X86BiosIpxe,
        FirmwareClass::X86Uefi,
        FirmwareClass::Arm64Uefi,
        FirmwareClass::X86UefiHttp,
        FirmwareClass::Arm64UefiHttp,
    ];

    /// A stable lower-case label (for logs and metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            FirmwareClass::X86Bios => "x86-bios",
            FirmwareClass::X86BiosIpxe => "x86-bios-ipxe",
            FirmwareClass::X86Uefi => "x86-uefi",
            FirmwareClass::Arm64Uefi => "arm64-uefi",
            FirmwareClass::X86UefiHttp => "x86-uefi-http",
            FirmwareClass::Arm64UefiHttp => "arm64-uefi-http",
        }
    }

    /// Whether the client loads its boot file over TFTP (PXE) rather than HTTP (UEFI HTTP boot).
    pub fn is_pxe(self) -> bool {
        !matches!(
            self,
            FirmwareClass::X86UefiHttp | FirmwareClass::Arm64UefiHttp
        )
    }

    /// The class for one option 93 value, if supported.
    pub fn from_arch(arch: u16) -> Option<Self> {
        match arch {
            0 => Some(FirmwareClass::X86Bios),
            6 | 7 | 9 => Some(FirmwareClass::X86Uefi),
            11 => Some(FirmwareClass::Arm64Uefi),
            15 | 16 => Some(FirmwareClass::X86UefiHttp),
            19 => Some(FirmwareClass::Arm64UefiHttp),
            _ => None,
        }
    }
}

impl fmt::Display for FirmwareClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the proxy learned about a PXE client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The firmware class (spec §5.1 table).
    pub class: FirmwareClass,
    /// The option 93 value that decided the class (the last recognized one).
    pub arch: u16,
    /// Whether the first user class (option 77) is `iPXE`, whatever the architecture.
    pub ipxe: bool,
    /// The client GUID (option 97), if sent; already validated.
    pub guid: Option<Vec<u8>>,
}

/// The machine UUID in a PXE GUID (option 97: type 0 and 16 bytes), written as the
/// machine's SMBIOS UUID reads (and as Sidero names Servers): PXE firmware sends the SMBIOS
/// bytes, whose first three fields are little-endian (SMBIOS 2.6 and later).
pub fn guid_uuid(guid: &[u8]) -> Option<String> {
    let b: &[u8; 16] = match guid {
        [0, rest @ ..] => rest.try_into().ok()?,
        _ => return None,
    };
    let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let mut out = String::with_capacity(36);
    for (i, &at) in order.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{:02x}", b[at]));
    }
    Some(out)
}

/// Classifies a request, or says why it is not one the proxy answers.
pub fn classify(request: &Request) -> Result<Classification, Ignored> {
    let raw = request
        .option(OPT_CLIENT_ARCH)
        .ok_or(Ignored::NoArchitecture)?;
    if raw.len() % 2 != 0 {
        return Err(MalformedPacket::BadArchitectureLength { len: raw.len() }.into());
    }
    let arches: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    // The last recognized value in the list wins.
    let (mut class, arch) = arches
        .iter()
        .filter_map(|&a| FirmwareClass::from_arch(a).map(|c| (c, a)))
        .next_back()
        .ok_or_else(|| Ignored::UnsupportedArchitecture {
            arches: arches.clone(),
        })?;

    let ipxe = first_user_class(request.option(OPT_USER_CLASS)).is_some_and(|c| c == b"iPXE");
    if ipxe && class == FirmwareClass::X86Bios {
        class = FirmwareClass::X86BiosIpxe;
    }

    let guid = match request.option(OPT_CLIENT_GUID) {
        None => None,
        Some(g) if g.len() == 17 && g[0] == 0 => Some(g.to_vec()),
        Some(g) => {
            return Err(Ignored::BadMachineIdentifier {
                len: g.len(),
                leading: g[0],
            });
        }
    };

    Ok(Classification {
        class,
        arch,
        ipxe,
        guid,
    })
}

/// The first entry of a user class option (option 77).
///
/// RFC 3004 encodes a list of length-prefixed entries; iPXE and Microsoft clients send a bare
/// string instead. As upstream does, the value is read as RFC 3004 when the length bytes add
/// up exactly to the option length, and as one bare string otherwise. An RFC 3004 list with
/// an empty entry is invalid and yields nothing.
pub fn first_user_class(value: Option<&[u8]>) -> Option<&[u8]> {
    let value = value?;
    let mut at = 0usize;
    while at < value.len() {
        at += usize::from(value[at]) + 1;
    }
    if at != value.len() {
        return Some(value);
    }
    let len = usize::from(*value.first()?);
    if len == 0 {
        return None;
    }
    let mut rest = value;
    while let Some((&l, tail)) = rest.split_first() {
        if l == 0 {
            return None;
        }
        rest = tail.get(usize::from(l)..).unwrap_or_default();
    }
    value.get(1..=len)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_pxe_guid_reads_as_the_smbios_uuid() {
        let mut g = vec![0u8];
        g.extend([
            0x00, 0x0a, 0x5c, 0xd1, 0x00, 0x00, 0x00, 0x40, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
            0xd1, 0x5c,
        ]);
        assert_eq!(
            guid_uuid(&g).as_deref(),
            Some("d15c0a00-0000-4000-8000-00000000d15c")
        );
        assert_eq!(guid_uuid(&g[..16]), None, "short");
        let mut typed = g.clone();
        typed[0] = 1;
        assert_eq!(guid_uuid(&typed), None, "type other than 0");
        assert_eq!(guid_uuid(&[]), None);
    }

    #[test]
    fn user_class_forms() {
        assert_eq!(first_user_class(Some(b"iPXE")), Some(&b"iPXE"[..]));
        assert_eq!(first_user_class(Some(b"\x04iPXE")), Some(&b"iPXE"[..]));
        assert_eq!(
            first_user_class(Some(b"\x04iPXE\x03foo")),
            Some(&b"iPXE"[..])
        );
        assert_eq!(
            first_user_class(Some(b"\x03foo\x04iPXE")),
            Some(&b"foo"[..])
        );
        assert_eq!(first_user_class(Some(b"\x00")), None);
        assert_eq!(first_user_class(Some(b"\x01a\x00")), None);
        assert_eq!(first_user_class(None), None);
    }

    #[test]
    fn arch_table() {
        for (arch, class) in [
            (0, Some(FirmwareClass::X86Bios)),
            (6, Some(FirmwareClass::X86Uefi)),
            (7, Some(FirmwareClass::X86Uefi)),
            (9, Some(FirmwareClass::X86Uefi)),
            (11, Some(FirmwareClass::Arm64Uefi)),
            (15, Some(FirmwareClass::X86UefiHttp)),
            (16, Some(FirmwareClass::X86UefiHttp)),
            (19, Some(FirmwareClass::Arm64UefiHttp)),
            (1, None),
            (10, None),
            (17, None),
            (20, None),
            (0xffff, None),
        ] {
            assert_eq!(FirmwareClass::from_arch(arch), class, "arch {arch}");
        }
    }
}
