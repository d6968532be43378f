//! `/chosen/stdout-path`: which node, and the options after ':'.
//!
//! The value is "<path-or-alias>[:<options>]". A value not starting with '/' begins with
//! an `/aliases` name that stands for a full path; anything after the alias up to ':' is
//! a path below it (as Linux's `of_find_node_opts_by_path` reads it).

use super::node::{str_prop, Node};
use super::walk::{descend, find_path, Chain};
use super::DtError;

/// The property value split at the first ':'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StdoutPath<'a> {
    pub path: &'a str,
    pub options: Option<&'a str>,
}

pub(super) fn split(value: &str) -> StdoutPath<'_> {
    match value.split_once(':') {
        Some((path, options)) => StdoutPath {
            path,
            options: Some(options),
        },
        None => StdoutPath {
            path: value,
            options: None,
        },
    }
}

/// The baud rate at the front of the options ("115200n8" -> 115200); `None` if the options
/// do not start with a digit, or the number is 0 or does not fit a u32.
pub(super) fn baud(options: &str) -> Option<u32> {
    let digits = options.bytes().take_while(u8::is_ascii_digit).count();
    match options[..digits].parse::<u32>() {
        Ok(0) | Err(_) => None,
        Ok(rate) => Some(rate),
    }
}

/// `stdout-path`, or the legacy `linux,stdout-path` when it is absent.
pub(super) fn read<'a>(chosen: &Node<'a>) -> Result<Option<StdoutPath<'a>>, DtError> {
    let value = match str_prop(chosen, "stdout-path")? {
        Some(v) => Some(v),
        None => str_prop(chosen, "linux,stdout-path")?,
    };
    Ok(value.map(split))
}

/// The chain to the node `path` names, following one alias. `None` when the alias or any
/// path component does not exist.
pub(super) fn resolve<'a>(root: Node<'a>, path: &str) -> Result<Option<Chain<'a>>, DtError> {
    if path.starts_with('/') {
        return find_path(root, path);
    }
    let (alias, below) = path.split_once('/').unwrap_or((path, ""));
    if alias.is_empty() {
        return Ok(None);
    }
    let Some(aliases) = find_path(root, "/aliases")? else {
        return Ok(None);
    };
    let Some(aliases) = aliases.last() else {
        return Ok(None);
    };
    match str_prop(aliases, alias)? {
        // An alias must name an absolute path; a relative one would be another alias.
        Some(target) if target.starts_with('/') => match find_path(root, target)? {
            Some(chain) => descend(chain, below),
            None => Ok(None),
        },
        _ => Ok(None),
    }
}
