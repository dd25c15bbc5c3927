//! Upstream's reflective "partial equality" (`PartialEqual(q, s)`), over our typed hardware.
//!
//! Upstream walks the Go values with `reflect`; we walk the typed structs instead. Go's shapes
//! map onto ours as follows, and the rules below are Go's, stated in our terms:
//!
//! | Go | ours | zero ("unspecified") when |
//! | --- | --- | --- |
//! | `string`, `uint32`, `uint64` | `Option<String>`, `Option<i32>`, `Option<i64>` | `None` or `Some(default)` |
//! | `*Struct` | `Option<Struct>` | `None`, or all fields zero (as a parent's field: `None` only) |
//! | `[]T` | `Option<Vec<T>>` | `None` only — `Some(vec![])` is *not* zero |
//!
//! * a zero qualifier value matches anything (even an absent server side);
//! * structs compare field by field;
//! * lists compare position by position; a qualifier list longer than the server's fails, an
//!   absent server list counts as empty;
//! * scalars compare by equality; an absent server scalar is the zero value (so it never equals
//!   a set, hence non-zero, qualifier);
//! * a non-zero struct qualifier against an absent server struct fails.
//!
//! Every struct implements [`Qualifies`] through `record!`, which destructures it without `..`,
//! so adding a field to a hardware type fails to compile until the field is listed here.

use sidero_api::metal::v1alpha2::{
    ComputeInformation, HardwareInformation, MemoryInformation, MemoryModule, NetworkInformation,
    NetworkInterface, Processor, StorageDevice, StorageInformation, SystemInformation,
};

/// A value that can act as a (partial) qualifier template for a server value of the same type.
pub trait Qualifies {
    /// Whether the value is Go's zero value for its type, i.e. "not specified, don't compare".
    fn is_zero(&self) -> bool;

    /// Whether the value, stored in a struct field, makes that field zero.
    ///
    /// Differs from [`Qualifies::is_zero`] for Go pointers and slices, which are non-zero as
    /// soon as they are set, whatever they point to.
    fn is_zero_field(&self) -> bool {
        self.is_zero()
    }

    /// `P(self, server)` for a non-zero `self` and a present `server` value.
    fn qualifies(&self, server: &Self) -> bool;

    /// `P(self, nil)` for a non-zero `self`: false, except for lists (a nil slice is empty).
    fn qualifies_absent(&self) -> bool {
        false
    }
}

/// Upstream's `PartialEqual(q, s)` for two present values: `q` is unspecified or qualifies `s`.
pub fn partially_equal<T: Qualifies>(qualifier: &T, server: &T) -> bool {
    qualifier.is_zero() || qualifier.qualifies(server)
}

/// Whether the hardware qualifier `template` matches the server's hardware.
///
/// A server without hardware information never matches a hardware qualifier, even `{}`.
pub fn hardware_matches(
    template: &HardwareInformation,
    server: Option<&HardwareInformation>,
) -> bool {
    server.is_some_and(|server| partially_equal(template, server))
}

/// Zero-ness of an optional struct field (see the table in the module docs).
fn field_is_zero<T: Qualifies>(field: &Option<T>) -> bool {
    field.as_ref().is_none_or(T::is_zero_field)
}

/// `P(q, s)` for one optional struct field.
fn field_qualifies<T: Qualifies>(qualifier: &Option<T>, server: &Option<T>) -> bool {
    let Some(qualifier) = qualifier else {
        return true;
    };
    if qualifier.is_zero() {
        return true;
    }
    match server {
        Some(server) => qualifier.qualifies(server),
        None => qualifier.qualifies_absent(),
    }
}

macro_rules! scalar {
    ($($ty:ty),+) => {$(
        impl Qualifies for $ty {
            fn is_zero(&self) -> bool {
                *self == <$ty>::default()
            }

            fn qualifies(&self, server: &Self) -> bool {
                self == server
            }
        }
    )+};
}

scalar!(String, i32, i64);

impl<T: Qualifies> Qualifies for Vec<T> {
    // A Go slice is zero only when nil, which is `None` one level up.
    fn is_zero(&self) -> bool {
        false
    }

    fn qualifies(&self, server: &Self) -> bool {
        // Positional on purpose: upstream never searches the server's list.
        self.len() <= server.len() && self.iter().zip(server).all(|(q, s)| partially_equal(q, s))
    }

    fn qualifies_absent(&self) -> bool {
        self.is_empty()
    }
}

/// Implements [`Qualifies`] for a hardware struct by exhaustive destructuring: listing every
/// field (no `..`) is what makes a newly added field a compile error rather than a silent skip.
macro_rules! record {
    ($ty:ident { $($field:ident),+ $(,)? }) => {
        impl Qualifies for $ty {
            fn is_zero(&self) -> bool {
                let $ty { $($field),+ } = self;
                $(field_is_zero($field))&&+
            }

            // Go stores every hardware struct behind a pointer: set means non-zero.
            fn is_zero_field(&self) -> bool {
                false
            }

            fn qualifies(&self, server: &Self) -> bool {
                let $ty { $($field),+ } = self;
                $(field_qualifies($field, &server.$field))&&+
            }
        }
    };
}

record!(HardwareInformation {
    system,
    compute,
    memory,
    storage,
    network
});
record!(SystemInformation {
    uuid,
    manufacturer,
    product_name,
    version,
    serial_number,
    sku_number,
    family
});
record!(ComputeInformation {
    total_core_count,
    total_thread_count,
    processor_count,
    processors
});
record!(Processor {
    manufacturer,
    product_name,
    serial_number,
    speed,
    core_count,
    thread_count
});
record!(MemoryInformation {
    total_size,
    module_count,
    modules
});
record!(MemoryModule {
    manufacturer,
    product_name,
    serial_number,
    type_,
    size,
    speed
});
record!(StorageInformation {
    total_size,
    device_count,
    devices
});
record!(StorageDevice {
    type_,
    size,
    product_name,
    serial_number,
    name,
    device_name,
    uuid,
    wwid
});
record!(NetworkInformation {
    interface_count,
    interfaces
});
record!(NetworkInterface {
    index,
    name,
    flags,
    mtu,
    mac,
    addresses
});
