//! Opcodes and error codes.

/// TFTP opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// Read request (1).
    Rrq,
    /// Write request (2).
    Wrq,
    /// Data (3).
    Data,
    /// Acknowledgment (4).
    Ack,
    /// Error (5).
    Error,
    /// Option acknowledgment (6, RFC 2347).
    Oack,
}

impl Opcode {
    /// The opcode's wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            Opcode::Rrq => 1,
            Opcode::Wrq => 2,
            Opcode::Data => 3,
            Opcode::Ack => 4,
            Opcode::Error => 5,
            Opcode::Oack => 6,
        }
    }

    /// Decodes a wire value.
    pub fn from_u16(value: u16) -> Option<Self> {
        Some(match value {
            1 => Opcode::Rrq,
            2 => Opcode::Wrq,
            3 => Opcode::Data,
            4 => Opcode::Ack,
            5 => Opcode::Error,
            6 => Opcode::Oack,
            _ => return None,
        })
    }
}

/// TFTP error codes (RFC 1350 §5 and RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: not defined, see the message.
    NotDefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID.
    UnknownTransferId,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: option negotiation refused (RFC 2347).
    OptionRefused,
    /// Any other value seen on the wire.
    Other(u16),
}

impl ErrorCode {
    /// The code's wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTransferId => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionRefused => 8,
            ErrorCode::Other(v) => v,
        }
    }

    /// Decodes a wire value; unknown values become [`ErrorCode::Other`].
    pub fn from_u16(value: u16) -> Self {
        match value {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTransferId,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionRefused,
            other => ErrorCode::Other(other),
        }
    }
}
