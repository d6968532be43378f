//! The parts of a U-Boot FIT Stile reads: `/configurations/default` names a configuration,
//! whose `kernel` (and optional `ramdisk`) name `/images` nodes, and whose optional
//! `bootargs` is the host's command line. Image data is embedded (`data`) or external
//! (`mkimage -E`: `data-size` with `data-offset` from the 4-byte-aligned end of the tree, or
//! `data-position` from the start of the FIT).

use super::fdt_walk::{self, Event, Header};
use super::{BundleError, MAX_BUNDLE_BOOTARGS};
use heapless::Vec;

/// Images and configurations looked through; a FIT with more is refused (`TooMany`).
const MAX_NODES: usize = 8;

/// What the default configuration resolves to.
pub struct Fit<'a> {
    pub kernel: &'a [u8],
    pub ramdisk: Option<&'a [u8]>,
    pub bootargs: Option<&'a str>,
}

#[derive(Default, Clone, Copy)]
struct ImageNode<'a> {
    name: &'a [u8],
    kind: Option<&'a [u8]>,
    arch: Option<&'a [u8]>,
    compression: Option<&'a [u8]>,
    data: Option<&'a [u8]>,
    data_offset: Option<&'a [u8]>,
    data_position: Option<&'a [u8]>,
    data_size: Option<&'a [u8]>,
}

#[derive(Default, Clone, Copy)]
struct ConfigNode<'a> {
    name: &'a [u8],
    kernel: Option<&'a [u8]>,
    ramdisk: Option<&'a [u8]>,
    bootargs: Option<&'a [u8]>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Images,
    Configurations,
    Other,
}

#[derive(Default)]
struct Found<'a> {
    images: Option<Vec<ImageNode<'a>, MAX_NODES>>,
    configs: Option<Vec<ConfigNode<'a>, MAX_NODES>>,
    default: Option<&'a [u8]>,
}

pub fn read(blob: &[u8]) -> Result<Fit<'_>, BundleError> {
    let h = fdt_walk::header(blob)?;
    let found = collect(blob, &h)?;
    let images = found.images.ok_or(BundleError::NoImages)?;
    let configs = found.configs.ok_or(BundleError::NoConfigurations)?;
    let default = found
        .default
        .and_then(string)
        .ok_or(BundleError::NoDefaultConfiguration)?;
    let config = configs
        .iter()
        .find(|c| c.name == default)
        .ok_or(BundleError::NoDefaultConfiguration)?;
    let named = |prop: Option<&[u8]>| -> Result<Option<&ImageNode<'_>>, BundleError> {
        let Some(value) = prop else {
            return Ok(None);
        };
        let name = string(value).ok_or(BundleError::Malformed)?;
        images
            .iter()
            .find(|i| i.name == name)
            .map(Some)
            .ok_or(BundleError::MissingImage)
    };
    let kernel = named(config.kernel)?.ok_or(BundleError::NoKernel)?;
    let ramdisk = named(config.ramdisk)?;

    let kind = kernel.kind.and_then(string);
    if !matches!(kind, Some(b"kernel") | Some(b"kernel_noload")) {
        return Err(BundleError::WrongType);
    }
    if kernel.arch.and_then(string) != Some(b"arm64") {
        return Err(BundleError::WrongArch);
    }
    uncompressed(kernel)?;
    let kernel_data = data(blob, &h, kernel)?;
    let ramdisk_data = match ramdisk {
        None => None,
        Some(r) => {
            if r.kind.and_then(string) != Some(b"ramdisk") {
                return Err(BundleError::WrongType);
            }
            uncompressed(r)?;
            let d = data(blob, &h, r)?;
            if overlap(kernel_data, d) {
                return Err(BundleError::Overlap);
            }
            Some(d)
        }
    };
    Ok(Fit {
        kernel: kernel_data,
        ramdisk: ramdisk_data,
        bootargs: config.bootargs.map(bootargs).transpose()?,
    })
}

/// One pass over the tree, keeping the nodes and properties that matter.
fn collect<'a>(blob: &'a [u8], h: &Header) -> Result<Found<'a>, BundleError> {
    let mut found = Found::default();
    let mut section = Section::Other;
    fdt_walk::walk(blob, h, |event| {
        match event {
            Event::Begin { name, depth: 1 } => {
                section = match name {
                    b"images" if found.images.is_none() => {
                        found.images = Some(Vec::new());
                        Section::Images
                    }
                    b"configurations" if found.configs.is_none() => {
                        found.configs = Some(Vec::new());
                        Section::Configurations
                    }
                    // A second /images would be ambiguous.
                    b"images" | b"configurations" => return Err(BundleError::Malformed),
                    _ => Section::Other,
                }
            }
            Event::Begin { name, depth: 2 } => match section {
                Section::Images => add_node(
                    found.images.as_mut(),
                    ImageNode {
                        name,
                        ..Default::default()
                    },
                    |i| i.name,
                )?,
                Section::Configurations => add_node(
                    found.configs.as_mut(),
                    ConfigNode {
                        name,
                        ..Default::default()
                    },
                    |c| c.name,
                )?,
                Section::Other => {}
            },
            Event::End { depth: 1 } => section = Section::Other,
            Event::Prop {
                name: b"default",
                value,
                depth: 1,
            } if section == Section::Configurations => found.default = Some(value),
            Event::Prop {
                name,
                value,
                depth: 2,
            } => match section {
                Section::Images => {
                    if let Some(i) = found.images.as_mut().and_then(|v| v.last_mut()) {
                        image_prop(i, name, value);
                    }
                }
                Section::Configurations => {
                    if let Some(c) = found.configs.as_mut().and_then(|v| v.last_mut()) {
                        match name {
                            b"kernel" => c.kernel = Some(value),
                            b"ramdisk" => c.ramdisk = Some(value),
                            b"bootargs" => c.bootargs = Some(value),
                            _ => {}
                        }
                    }
                }
                Section::Other => {}
            },
            _ => {}
        }
        Ok(())
    })?;
    Ok(found)
}

/// Adds a node, refusing a second node of the same name (which one would be meant?).
fn add_node<T>(
    list: Option<&mut Vec<T, MAX_NODES>>,
    node: T,
    name: impl Fn(&T) -> &[u8],
) -> Result<(), BundleError> {
    let Some(list) = list else {
        return Ok(());
    };
    if list.iter().any(|n| name(n) == name(&node)) {
        return Err(BundleError::Malformed);
    }
    list.push(node).map_err(|_| BundleError::TooMany)
}

fn image_prop<'a>(i: &mut ImageNode<'a>, name: &[u8], value: &'a [u8]) {
    let slot = match name {
        b"type" => &mut i.kind,
        b"arch" => &mut i.arch,
        b"compression" => &mut i.compression,
        b"data" => &mut i.data,
        b"data-offset" => &mut i.data_offset,
        b"data-position" => &mut i.data_position,
        b"data-size" => &mut i.data_size,
        _ => return,
    };
    *slot = Some(value);
}

/// "none", or no `compression` at all.
fn uncompressed(i: &ImageNode<'_>) -> Result<(), BundleError> {
    match i.compression.map(string) {
        None | Some(Some(b"none")) => Ok(()),
        Some(_) => Err(BundleError::Compressed),
    }
}

/// The image's bytes: embedded, or external after the tree.
fn data<'a>(blob: &'a [u8], h: &Header, i: &ImageNode<'a>) -> Result<&'a [u8], BundleError> {
    if let Some(d) = i.data {
        if i.data_size.is_some() || i.data_offset.is_some() || i.data_position.is_some() {
            // Both embedded and external: which is it?
            return Err(BundleError::Malformed);
        }
        return Ok(d);
    }
    let size = i
        .data_size
        .map(u32_value)
        .transpose()?
        .ok_or(BundleError::NoData)?;
    let start = match (i.data_position, i.data_offset) {
        (Some(pos), None) => u32_value(pos)? as usize,
        (None, Some(off)) => h
            .total_size
            .next_multiple_of(4)
            .checked_add(u32_value(off)? as usize)
            .ok_or(BundleError::Truncated)?,
        (None, None) => return Err(BundleError::NoData),
        (Some(_), Some(_)) => return Err(BundleError::Malformed),
    };
    if start < h.total_size {
        return Err(BundleError::Overlap);
    }
    start
        .checked_add(size as usize)
        .and_then(|end| blob.get(start..end))
        .ok_or(BundleError::Truncated)
}

fn overlap(a: &[u8], b: &[u8]) -> bool {
    let (a0, b0) = (a.as_ptr() as usize, b.as_ptr() as usize);
    !a.is_empty() && !b.is_empty() && a0 < b0 + b.len() && b0 < a0 + a.len()
}

/// A string property's first string, without its NUL; `None` unless NUL-terminated.
fn string(value: &[u8]) -> Option<&[u8]> {
    let end = value.iter().position(|&b| b == 0)?;
    Some(&value[..end])
}

fn u32_value(value: &[u8]) -> Result<u32, BundleError> {
    match *value {
        [a, b, c, d] => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(BundleError::Malformed),
    }
}

/// A whole NUL-terminated UTF-8 string of at most [`MAX_BUNDLE_BOOTARGS`] bytes.
fn bootargs(value: &[u8]) -> Result<&str, BundleError> {
    let (last, text) = value.split_last().ok_or(BundleError::BadBootargs)?;
    if *last != 0 || text.contains(&0) || text.len() > MAX_BUNDLE_BOOTARGS {
        return Err(BundleError::BadBootargs);
    }
    core::str::from_utf8(text).map_err(|_| BundleError::BadBootargs)
}
