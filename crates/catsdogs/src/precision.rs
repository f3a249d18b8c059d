//! How the network's numbers are computed: the precision a person asks for ([`Precision`]: fp32,
//! bf16, fp16 or auto) and what it resolves to on a device ([`Compute`]: the tensor kind of the
//! layers and whether convolutions see channels-last memory).
//!
//! - `fp32`: float32 everywhere, as Keras 2.2 computes.
//! - `bf16`: the layers compute in bfloat16 (the float32 range with 8 bits of mantissa) on a CPU
//!   with AMX or AVX512-BF16 or a CUDA GPU of compute capability 8.0 or more; the weights stay
//!   float32 (each step casts them), and the optimizer, the loss and the metrics stay float32.
//! - `fp16`: the same in float16, on CUDA only, with loss scaling (float16's range is small).
//! - `auto`: bf16 where the device does it fast, fp32 elsewhere.
//!
//! Reduced precision always comes with channels-last (NHWC) memory for the convolutions, which
//! is what oneDNN's and cuDNN's fast kernels read. fp32 is channels-last on the CPU too, where it
//! measured 15% to 29% faster than NCHW for each of the four networks (BENCHMARKS.md), and NCHW
//! on CUDA, where it is not measured yet. The choice is part of the feature caches' keys, so
//! features computed one way are never read as another.
//!
//! ```
//! use catsdogs::precision::{Compute, Precision};
//! let compute = Precision::Fp32.resolve(tch::Device::Cpu).unwrap();
//! assert_eq!(compute, Compute::FP32.with_channels_last(true));
//! assert_eq!(compute.to_string(), "fp32-nhwc");
//! assert!("bf17".parse::<Precision>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// The precision asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32 everywhere.
    Fp32,
    /// bfloat16 layers, float32 weights, optimizer, loss and metrics.
    Bf16,
    /// float16 layers with loss scaling (CUDA only).
    Fp16,
    /// bf16 where the device does it fast, else fp32.
    #[default]
    Auto,
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "float32" => Ok(Precision::Fp32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            "fp16" | "float16" => Ok(Precision::Fp16),
            "auto" => Ok(Precision::Auto),
            _ => Err(Error::UnknownName {
                what: "precision",
                given: s.to_string(),
                known: "fp32, bf16, fp16 (CUDA) or auto",
            }),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
            Precision::Auto => "auto",
        })
    }
}

impl Precision {
    /// What this precision computes in on `device`: `auto` becomes bf16 where
    /// [`bf16_is_fast`] and fp32 elsewhere; bf16 where the device has no bf16 arithmetic, and
    /// fp16 off CUDA, are refused with what to use instead.
    pub fn resolve(self, device: Device) -> Result<Compute> {
        let unsupported = |instead| Error::PrecisionUnavailable {
            precision: self.to_string(),
            device: device_words(device),
            instead,
        };
        match self {
            Precision::Fp32 => Ok(Compute::fp32_on(device)),
            Precision::Auto if bf16_is_fast(device) => Ok(Compute::BF16),
            Precision::Auto => Ok(Compute::fp32_on(device)),
            Precision::Bf16 if bf16_is_fast(device) => Ok(Compute::BF16),
            Precision::Bf16 => Err(unsupported(
                "it has no bfloat16 arithmetic (a CPU needs AMX or AVX512-BF16, a GPU compute capability 8.0); use fp32 or auto",
            )),
            Precision::Fp16 if device.is_cuda() => Ok(Compute::FP16),
            Precision::Fp16 => Err(unsupported(
                "float16 is for CUDA GPUs; on the CPU use bf16 (where it is fast), fp32 or auto",
            )),
        }
    }
}

fn device_words(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("CUDA device {i}"),
        _ => "this CPU".to_string(),
    }
}

/// Whether `device` computes bfloat16 in hardware: a CPU whose flags name AMX-BF16 or
/// AVX512-BF16 (read from `/proc/cpuinfo`, never assumed), a CUDA GPU of compute capability 8.0
/// or more. (libtorch computes bf16 on any CPU, in software and slowly: [`Compute::BF16`] used
/// directly does so, for comparisons and tests.)
pub fn bf16_is_fast(device: Device) -> bool {
    match device {
        Device::Cuda(index) => crate::device::compute_capability(index).is_some_and(|cc| cc >= 8.0),
        _ => cpu_bf16_flags().is_some(),
    }
}

/// What `auto` computes in on `device`, and why, e.g. `bf16 (this CPU has avx512_bf16)`: for
/// banners and the `device` command.
pub fn describe_auto(device: Device) -> String {
    let picked = Precision::Auto
        .resolve(device)
        .map_or_else(|_| "fp32".to_string(), |c| c.to_string());
    let why = match device {
        Device::Cuda(index) => match crate::device::compute_capability(index) {
            Some(cc) => format!("GPU compute capability {cc}"),
            None => "GPU compute capability unknown".to_string(),
        },
        _ => match cpu_bf16_flags() {
            Some(flags) => format!("this CPU has {flags}"),
            None => "this CPU has no bf16 arithmetic".to_string(),
        },
    };
    format!("{picked} ({why})")
}

/// The bf16 flags of this CPU (`amx_bf16`, `avx512_bf16`), if it has any.
pub fn cpu_bf16_flags() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let flags = info.lines().find(|l| l.starts_with("flags"))?;
    let found: Vec<&str> = flags
        .split_whitespace()
        .filter(|f| matches!(*f, "amx_bf16" | "avx512_bf16"))
        .collect();
    (!found.is_empty()).then(|| found.join(" "))
}

/// How the layers compute: in which kind, and whether images and kernels are channels-last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compute {
    /// The kind of the layers' inputs, weights and outputs (Float, BFloat16 or Half).
    pub kind: Kind,
    /// Whether 4-D tensors are laid out channels-last (NHWC strides) for the convolutions.
    pub channels_last: bool,
}

impl Compute {
    /// float32, NCHW: Keras's arithmetic.
    pub const FP32: Compute = Compute {
        kind: Kind::Float,
        channels_last: false,
    };
    /// bfloat16, channels-last.
    pub const BF16: Compute = Compute {
        kind: Kind::BFloat16,
        channels_last: true,
    };
    /// float16, channels-last.
    pub const FP16: Compute = Compute {
        kind: Kind::Half,
        channels_last: true,
    };

    /// float32 in the layout that measured faster on `device`: channels-last on the CPU, NCHW on
    /// CUDA (not measured there yet).
    pub fn fp32_on(device: Device) -> Compute {
        Compute::FP32.with_channels_last(!device.is_cuda())
    }

    /// The same precision with another memory layout.
    pub fn with_channels_last(self, channels_last: bool) -> Compute {
        Compute {
            channels_last,
            ..self
        }
    }

    /// Whether this is reduced precision (bf16 or fp16).
    pub fn is_reduced(self) -> bool {
        self.kind != Kind::Float
    }

    /// A tensor as the layers take it: in this kind and, if it is 4-D, in this layout. A
    /// tensor already so is returned as it is (shared, no copy); the cast keeps the gradient's
    /// path to a float32 weight.
    pub fn prepare(self, x: &Tensor) -> Result<Tensor> {
        let x = if x.kind() == self.kind {
            x.shallow_clone()
        } else {
            x.f_to_kind(self.kind)?
        };
        if x.dim() != 4 || !self.channels_last || is_channels_last(&x) {
            return Ok(x);
        }
        // tch has no memory-format API: NHWC made contiguous, viewed back as NCHW, has
        // channels-last strides, which libtorch's convolutions follow.
        Ok(x.f_permute([0, 2, 3, 1])?
            .f_contiguous()?
            .f_permute([0, 3, 1, 2])?)
    }
}

/// Whether a 4-D tensor has channels-last strides.
fn is_channels_last(x: &Tensor) -> bool {
    let (size, stride) = (x.size(), x.stride());
    stride[1] == 1 && stride[3] == size[1] && stride[2] == size[1] * size[3]
}

impl fmt::Display for Compute {
    /// `fp32`, `bf16`, `fp16`, with `-nhwc` for float32 channels-last or `-nchw` for reduced
    /// precision in NCHW: a name for banners, `run.json` and the caches' keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.kind {
            Kind::BFloat16 => "bf16",
            Kind::Half => "fp16",
            _ => "fp32",
        };
        let layout = match (self.is_reduced(), self.channels_last) {
            (false, true) => "-nhwc",
            (true, false) => "-nchw",
            _ => "",
        };
        write!(f, "{name}{layout}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_both_ways_and_bad_ones_say_what_to_use() {
        for name in ["fp32", "bf16", "fp16", "auto"] {
            assert_eq!(name.parse::<Precision>().unwrap().to_string(), name);
        }
        let err = "half".parse::<Precision>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown precision \"half\": use fp32, bf16, fp16 (CUDA) or auto"
        );
        let err = Precision::Fp16
            .resolve(Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("precision fp16 is not available on this CPU: float16 is for CUDA"),
            "{err}"
        );
    }

    #[test]
    fn channels_last_keeps_the_values_and_the_shape() {
        let x = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, Device::Cpu)).view([2, 3, 4, 5]);
        let y = Compute::FP32.with_channels_last(true).prepare(&x).unwrap();
        assert_eq!(y.size(), [2, 3, 4, 5]);
        assert_eq!(y.stride(), [60, 1, 15, 3]);
        assert!(y.equal(&x));
        let z = Compute::BF16.prepare(&y).unwrap();
        assert_eq!(z.kind(), Kind::BFloat16);
        assert_eq!(z.stride(), [60, 1, 15, 3]);
        assert_eq!(Compute::BF16.to_string(), "bf16");
        assert_eq!(
            Compute::FP32.with_channels_last(true).to_string(),
            "fp32-nhwc"
        );
    }
}
