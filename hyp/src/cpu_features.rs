//! CPU features Stile cares about, decoded from raw ID register values (read by arch/).

use core::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuFeatures {
    /// FEAT_S2FWB: stage 2 can force the final memory type (HCR_EL2.FWB).
    pub fwb: bool,
    /// CTR_EL0.DIC: no instruction-cache invalidation needed for coherence.
    pub dic: bool,
    /// Physical address size in bits (from PARange).
    pub pa_bits: u8,
    /// The raw PARange field, as VTCR_EL2.PS / TCR_EL2.PS want it.
    pub pa_range: u8,
    /// 8 or 16.
    pub vmid_bits: u8,
    /// Smallest data-cache line in bytes (CTR_EL0.DminLine).
    pub dcache_line: u32,
}

/// Raw ID register values, so decoding is testable on the build machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdRegs {
    pub id_aa64mmfr0: u64,
    pub id_aa64mmfr1: u64,
    pub id_aa64mmfr2: u64,
    pub ctr_el0: u64,
}

/// PARange encodings 0..=6 -> bits; reserved values are read as the largest we know.
const PA_BITS: [u8; 7] = [32, 36, 40, 42, 44, 48, 52];

impl CpuFeatures {
    pub const fn decode(r: &IdRegs) -> CpuFeatures {
        let pa_range_raw = (r.id_aa64mmfr0 & 0xf) as u8;
        let pa_range = if pa_range_raw as usize >= PA_BITS.len() {
            6
        } else {
            pa_range_raw
        };
        // We never use 52-bit output addresses (they need FEAT_LPA/LPA2 descriptor formats).
        let (pa_range, pa_bits) = if pa_range > 5 {
            (5, 48)
        } else {
            (pa_range, PA_BITS[pa_range as usize])
        };
        CpuFeatures {
            fwb: (r.id_aa64mmfr2 >> 40) & 0xf != 0,
            dic: (r.ctr_el0 >> 29) & 1 != 0,
            pa_bits,
            pa_range,
            vmid_bits: if (r.id_aa64mmfr1 >> 4) & 0xf == 2 {
                16
            } else {
                8
            },
            dcache_line: 4 << ((r.ctr_el0 >> 16) & 0xf),
        }
    }
}

/// The stable boot-log line: `cpu: FWB=<0|1> DIC=<0|1> PARange=<bits> VMIDbits=<8|16>`.
impl fmt::Display for CpuFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FWB={} DIC={} PARange={} VMIDbits={}",
            self.fwb as u8, self.dic as u8, self.pa_bits, self.vmid_bits
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fwb_comes_from_mmfr2_bits_43_to_40() {
        let on = IdRegs {
            id_aa64mmfr2: 1 << 40,
            ..Default::default()
        };
        assert!(CpuFeatures::decode(&on).fwb);
        let off = IdRegs {
            id_aa64mmfr2: 0xf << 36 | 0xf << 44,
            ..Default::default()
        };
        assert!(!CpuFeatures::decode(&off).fwb);
    }

    #[test]
    fn dic_is_ctr_bit_29() {
        assert!(
            CpuFeatures::decode(&IdRegs {
                ctr_el0: 1 << 29,
                ..Default::default()
            })
            .dic
        );
        assert!(
            !CpuFeatures::decode(&IdRegs {
                ctr_el0: 1 << 28,
                ..Default::default()
            })
            .dic
        );
    }

    #[test]
    fn parange_maps_to_bits_and_caps_at_48() {
        let bits: std::vec::Vec<u8> = (0..8)
            .map(|p| {
                CpuFeatures::decode(&IdRegs {
                    id_aa64mmfr0: p,
                    ..Default::default()
                })
                .pa_bits
            })
            .collect();
        assert_eq!(bits, [32, 36, 40, 42, 44, 48, 48, 48]);
    }

    #[test]
    fn vmid_bits_are_16_only_when_mmfr1_says_2() {
        let v = |x: u64| {
            CpuFeatures::decode(&IdRegs {
                id_aa64mmfr1: x << 4,
                ..Default::default()
            })
            .vmid_bits
        };
        assert_eq!((v(0), v(2), v(1)), (8, 16, 8));
    }

    #[test]
    fn feature_line_has_the_stable_shape() {
        let f = CpuFeatures::decode(&IdRegs {
            id_aa64mmfr0: 5,
            id_aa64mmfr1: 2 << 4,
            id_aa64mmfr2: 1 << 40,
            ctr_el0: 1 << 29 | 4 << 16,
        });
        assert_eq!(f.to_string(), "FWB=1 DIC=1 PARange=48 VMIDbits=16");
        assert_eq!(f.dcache_line, 64);
    }
}
