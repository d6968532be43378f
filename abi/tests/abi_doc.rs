//! docs/ABI.md against the crate: every table of codes in the doc must list exactly what the
//! crate defines (same values, same names, same order), the run page table must give every
//! field's real offset and size, and every `STILE_*` name the doc uses must be in the header.

mod common;

use std::path::Path;
use stile_abi::run_page::ExitReason;
use stile_abi::{caps, Function, Reason, FN_CALL_UID, FN_REVISION};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ABI.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner
        .split('|')
        .map(|c| c.trim().trim_matches('`').to_string())
        .collect()
}

/// The rows of the table whose header line starts with `header`.
fn table(doc: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = doc.lines().skip_while(|l| !l.starts_with(header));
    assert!(
        lines.next().is_some(),
        "docs/ABI.md has no table headed `{header}`"
    );
    lines
        .take_while(|l| l.starts_with('|'))
        .filter(|l| !l.starts_with("|---"))
        .map(cells)
        .collect()
}

/// The first two cells of each row.
fn keys(rows: &[Vec<String>]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| (r[0].clone(), r.get(1).cloned().unwrap_or_default()))
        .collect()
}

fn hex_id(id: u32) -> String {
    format!("0x{:04X}_{:04X}", id >> 16, id & 0xffff)
}

#[test]
fn abi_doc_states_the_crate_revision() {
    let (major, minor) = stile_abi::REVISION;
    let doc = doc();
    assert!(
        doc.contains(&format!("ABI revision **{major}.{minor}**")),
        "docs/ABI.md should say `ABI revision **{major}.{minor}**`"
    );
    assert!(doc.contains(&format!("revision {major}.{minor})")));
}

#[test]
fn abi_doc_lists_every_call_with_its_id() {
    let mut want = vec![
        (hex_id(FN_CALL_UID), "CALL_UID".to_string()),
        (hex_id(FN_REVISION), "REVISION".to_string()),
    ];
    want.extend(
        Function::ALL
            .iter()
            .map(|f| (hex_id(*f as u32), f.name().to_string())),
    );
    let rows = table(&doc(), "| ID | call |");
    assert_eq!(keys(&rows), want);
    // Each of Stile's calls has its own section.
    let doc = doc();
    for f in Function::ALL {
        let heading = format!("### {} `{}`", f.name(), hex_id(f as u32));
        assert!(doc.contains(&heading), "no section `{heading}`");
    }
}

#[test]
fn abi_doc_status_table_matches_the_crate() {
    let want: Vec<(String, String)> = common::statuses()
        .iter()
        .map(|(s, _)| ((s.as_u64() as i64).to_string(), s.name().to_string()))
        .collect();
    assert_eq!(keys(&table(&doc(), "| value | name | meaning |")), want);
}

#[test]
fn abi_doc_reason_table_matches_the_crate() {
    let want: Vec<(String, String)> = Reason::ALL
        .iter()
        .map(|r| ((*r as u64).to_string(), r.name().to_string()))
        .collect();
    assert_eq!(
        keys(&table(&doc(), "| code | name | meaning | where |")),
        want
    );
}

#[test]
fn abi_doc_capability_table_matches_the_crate() {
    let want: Vec<(String, String)> = caps::ALL
        .iter()
        .map(|(bit, name)| (bit.trailing_zeros().to_string(), name.to_string()))
        .collect();
    assert_eq!(keys(&table(&doc(), "| bit | name | on means |")), want);
}

#[test]
fn abi_doc_slot_tables_match_the_crate() {
    let doc = doc();
    let kinds: Vec<(String, String)> = common::slot_kinds()
        .iter()
        .map(|(k, _)| ((*k as u8).to_string(), k.name().to_string()))
        .collect();
    assert_eq!(keys(&table(&doc, "| value | kind | backing |")), kinds);
    // Every single-bit constant of the descriptor word, at its bit.
    let word = table(&doc, "| bits | name | meaning |");
    let bits: Vec<(String, String)> = common::groups()
        .into_iter()
        .flat_map(|g| g.consts)
        .filter(|c| c.name.starts_with("STILE_SLOT_") && c.form == common::Form::Bit)
        .map(|c| (c.value.trailing_zeros().to_string(), c.name))
        .collect();
    for b in &bits {
        assert!(keys(&word).contains(b), "descriptor word table lacks {b:?}");
    }
    assert_eq!(word.len(), bits.len() + 2, "kind row + bits + `others` row");
}

#[test]
fn abi_doc_exit_and_host_action_tables_match_the_crate() {
    let doc = doc();
    let exits: Vec<(String, String)> = ExitReason::ALL
        .iter()
        .map(|e| ((*e as u32).to_string(), e.name().to_string()))
        .collect();
    assert_eq!(keys(&table(&doc, "| value | exit | when |")), exits);
    let actions: Vec<(String, String)> = common::host_actions()
        .iter()
        .map(|(a, v)| ((*a as u32).to_string(), common::screaming(v)))
        .collect();
    assert_eq!(keys(&table(&doc, "| value | action |")), actions);
}

#[test]
fn abi_doc_run_page_table_gives_every_field_its_offset_and_size() {
    let rows = table(&doc(), "| offset | size | field |");
    let have: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    let want: Vec<(String, String, String)> = common::run_page_fields()
        .iter()
        .map(|f| (f.offset.to_string(), f.size.to_string(), f.name.to_string()))
        .collect();
    assert_eq!(have, want);
    assert!(doc().contains(&format!("no padding, {} bytes", common::RUN_PAGE_SIZE)));
}

#[test]
fn abi_doc_uses_only_names_the_header_defines() {
    let mut defined: Vec<String> = common::groups()
        .into_iter()
        .flat_map(|g| g.consts.into_iter().map(|c| c.name))
        .collect();
    defined.push("STILE_ABI_H".into());
    defined.push("STILE_STATIC_ASSERT".into());
    let doc = doc();
    let bytes = doc.as_bytes();
    let mut i = 0;
    while let Some(at) = doc[i..].find("STILE_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_uppercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        let name = &doc[start..end];
        // `STILE_REASON_*` and `STILE_UID_0..3` name a family by its prefix.
        let ok = if name.ends_with('_') {
            defined.iter().any(|d| d.starts_with(name))
        } else {
            defined.iter().any(|d| d == name) || name == "STILE_REGEN_HEADER"
        };
        assert!(
            ok,
            "docs/ABI.md mentions {name}, which stile_abi.h does not define"
        );
        i = end.max(start + 1);
    }
}
