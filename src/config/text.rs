//! String points and the text kind: `type = "string"` takes its length from
//! `registers`, is read only and of kind `text`; a `text` point is a Modbus string and
//! takes no `scale`, `offset` or `unit`. Each mismatch is an error at the key at fault.

use super::error::ConfigError;
use super::read::{Reader, Val};
use crate::site::{PointKind, PointType};

/// The keys a text point refuses, and that a camera point cannot be text.
pub(super) fn text_point(
    r: &mut Reader<'_, '_>,
    kind: &Val<PointKind>,
    is_camera: bool,
    errors: &mut Vec<ConfigError>,
) {
    for key in ["scale", "offset", "unit"] {
        if let Some(at) = r.given(key) {
            errors.push(at.error(format!(
                "`{key}` does not apply to a text point, it holds text, not a number"
            )));
        }
    }
    if is_camera {
        errors.push(kind.loc.error(
            "a text point reads a Modbus string (type = \"string\"); camera points are numbers",
        ));
    }
}

/// A `type = "string"` point: its length from `registers` (required for strings and
/// refused for every other type), read only, of kind text; and a text point must be a
/// string.
pub(super) fn string_type(
    r: &mut Reader<'_, '_>,
    ty: Option<Val<PointType>>,
    kind: Option<&Val<PointKind>>,
    writable: Option<&Val<bool>>,
    errors: &mut Vec<ConfigError>,
) -> Option<Val<PointType>> {
    let given = r.given("registers");
    let registers = r.int_in("registers", 1..=64, errors);
    let text = kind.filter(|k| k.v == PointKind::Text);
    let Some(Val {
        v: PointType::Str(_),
        loc,
    }) = ty
    else {
        if let (Some(at), Some(t)) = (given, &ty) {
            errors.push(at.error(format!(
                "`registers` applies to a string point only (type = \"string\"); {} spans {} \
                 register(s) by its type",
                t.v.name(),
                t.v.registers()
            )));
        }
        if let (Some(k), Some(t)) = (text, &ty) {
            errors.push(k.loc.error(format!(
                "a text point reads a string: write type = \"string\" and registers = N, not {}",
                t.v.name()
            )));
        }
        return ty;
    };
    if let Some(k) = kind
        && k.v != PointKind::Text
    {
        errors.push(k.loc.error(format!(
            "a string point holds text: write kind = \"text\", not {}",
            k.v.name()
        )));
    }
    if let Some(w) = writable
        && w.v
    {
        errors.push(
            w.loc
                .error("a string point is read only, it cannot be writable"),
        );
    }
    if given.is_none() {
        errors.push(loc.error(
            "a string point needs `registers = N`: the registers its text spans (1..=64, \
             two characters each)",
        ));
    }
    registers.map(|n| Val {
        v: PointType::Str(n.v as u8),
        loc,
    })
}
