//! Reads a board's regions.toml into [`Region`]s. Used by build.rs and by the tests (which
//! include this file), so every message here is covered.

use stile_hyp::addr::PhysRange;
use stile_hyp::config::{Owner, Region};
use stile_hyp::mm::kind::{MemoryKind, Perms};
use toml::{Table, Value};

const KEYS: [&str; 7] = [
    "name",
    "base",
    "size",
    "kind",
    "perms",
    "owner",
    "assignable",
];

/// The `[[region]]` tables of `text`, in file order. Errors read
/// `region 'aperture': unknown key 'sise' (...)`; the caller adds the file name.
pub fn parse_regions(text: &str) -> Result<Vec<Region>, String> {
    let top: Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message()))?;
    if let Some(key) = top.keys().find(|k| *k != "region") {
        return Err(format!(
            "unknown top-level key '{key}' (a board declares [[region]] tables only)"
        ));
    }
    let tables = match top.get("region") {
        None => return Err("declares no [[region]] tables".to_string()),
        Some(Value::Array(tables)) => tables,
        Some(_) => return Err("'region' must be written as [[region]] tables".to_string()),
    };
    tables
        .iter()
        .enumerate()
        .map(|(index, value)| match value {
            Value::Table(table) => parse_region(index, table),
            _ => Err(format!("region #{}: not a table", index + 1)),
        })
        .collect()
}

fn parse_region(index: usize, table: &Table) -> Result<Region, String> {
    // Name the region as validation messages do: by name once it has one.
    let who = match table.get("name") {
        Some(Value::String(name)) if !name.is_empty() => format!("region '{name}'"),
        _ => format!("region #{}", index + 1),
    };
    let at = |what: String| format!("{who}: {what}");
    if let Some(key) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(at(format!(
            "unknown key '{key}' (keys: {})",
            KEYS.join(", ")
        )));
    }
    let name = string(table, "name").map_err(at)?;
    let kind_text = string(table, "kind").map_err(at)?;
    let kind = MemoryKind::from_name(&kind_text).ok_or_else(|| {
        at(format!(
            "kind '{kind_text}' is not one of {}",
            names(MemoryKind::ALL.map(MemoryKind::name))
        ))
    })?;
    let perms_text = string(table, "perms").map_err(at)?;
    let perms = Perms::from_text(&perms_text).ok_or_else(|| {
        at(format!(
            "perms '{perms_text}' is not r, w, x in that order with '-' for absent (e.g. \"rw-\")"
        ))
    })?;
    let owner_text = string(table, "owner").map_err(at)?;
    let owner = Owner::from_name(&owner_text).ok_or_else(|| {
        at(format!(
            "owner '{owner_text}' is not one of {}",
            names(Owner::ALL.map(Owner::name))
        ))
    })?;
    let assignable = match table.get("assignable") {
        None => false,
        Some(Value::Boolean(b)) => *b,
        Some(_) => return Err(at("'assignable' must be true or false".to_string())),
    };
    Ok(Region {
        // build.rs is one short process and the generated code holds copies of the names:
        // leaking lets build.rs use the very `Region` type the hypervisor does.
        name: Box::leak(name.into_boxed_str()),
        range: PhysRange::new(
            address(table, "base").map_err(at)?,
            address(table, "size").map_err(at)?,
        ),
        kind,
        perms,
        owner,
        assignable,
    })
}

fn string(table: &Table, key: &str) -> Result<String, String> {
    match table.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("'{key}' must be a string")),
        None => Err(format!("missing key '{key}'")),
    }
}

/// TOML integers are i64: enough for any 48-bit physical address.
fn address(table: &Table, key: &str) -> Result<u64, String> {
    match table.get(key) {
        Some(Value::Integer(i)) => {
            u64::try_from(*i).map_err(|_| format!("'{key}' must not be negative"))
        }
        Some(_) => Err(format!("'{key}' must be an integer (e.g. 0x4000_0000)")),
        None => Err(format!("missing key '{key}'")),
    }
}

fn names<const N: usize>(all: [&str; N]) -> String {
    all.join(", ")
}
