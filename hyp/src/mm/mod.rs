//! Memory: range arithmetic, translation tables, EL2's own map, allocators.

pub mod bulk_move;
pub mod bump;
pub mod el2_attrs;
pub mod el2_map;
pub mod frames;
pub mod kind;
pub mod pgtable;
pub mod ranges;
pub mod s2_attrs;
pub mod stage2;
#[cfg(test)]
mod stage2_model_tests;
pub mod tlb;
pub mod vmid;
pub mod vtcr;
