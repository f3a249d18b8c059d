//! Where the compute runs: CUDA when libtorch sees a GPU, the CPU otherwise.
//!
//! The linker drops `libtorch_cuda.so` from binaries and from the evcxr kernel's user library,
//! because nothing calls into it by name (tch-rs issue 980); libtorch then reports no GPU on a GPU
//! machine. [`device`] therefore loads `libtorch_cuda.so` from the directory that the running
//! process already maps `libtorch_cpu.so` from, before it asks libtorch about CUDA. The same call
//! serves the CLI and the notebooks.
//!
//! ```
//! let device = catsdogs::device();
//! let x = tch::Tensor::ones([2, 3], (tch::Kind::Float, device));
//! assert_eq!(x.sum(tch::Kind::Float).double_value(&[]), 6.0);
//! ```

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::error::Error;

/// The device that training and inference use: the first CUDA GPU if there is one, else the CPU.
///
/// Setting the environment variable `CATSDOGS_DEVICE=cpu` forces the CPU. On CUDA it also turns
/// cuDNN's autotuner on (`torch.backends.cudnn.benchmark = True`), since every batch has the
/// same shape.
pub fn device() -> tch::Device {
    static DEVICE: OnceLock<tch::Device> = OnceLock::new();
    *DEVICE.get_or_init(|| {
        load_cuda_library();
        let forced_cpu = std::env::var("CATSDOGS_DEVICE").is_ok_and(|v| v == "cpu");
        if !forced_cpu && tch::Cuda::is_available() {
            tch::Cuda::cudnn_set_benchmark(true);
            tch::Device::Cuda(0)
        } else {
            tch::Device::Cpu
        }
    })
}

/// The directory holding the `libtorch_cpu.so` that this process has mapped, if any.
pub fn libtorch_dir() -> Option<PathBuf> {
    mapped_library("libtorch_cpu.so").and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The path of a shared library that this process has mapped, read from `/proc/self/maps`.
pub fn mapped_library(file_name: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .map(PathBuf::from)
        .find(|path| path.file_name().is_some_and(|n| n == file_name))
}

/// Loads `libtorch_cuda.so` (and, where present, its linear-algebra companion) next to the
/// mapped `libtorch_cpu.so`, so that its CUDA hooks register with libtorch. Does nothing on a
/// CPU-only libtorch.
fn load_cuda_library() {
    // Any tch call maps libtorch_cpu; this one is cheap.
    let _ = tch::utils::has_cuda();
    let Some(dir) = libtorch_dir() else { return };
    for name in ["libtorch_cuda.so", "libtorch_cuda_linalg.so"] {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let Ok(c_path) = CString::new(path.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        // SAFETY: dlopen with a valid NUL-terminated path; the handle is deliberately kept open
        // for the life of the process, as libtorch expects of its backends.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if handle.is_null() {
            // A CUDA build of torch on a machine whose driver libraries cannot be loaded: the
            // CPU still works, and `describe()` reports that CUDA is off.
            continue;
        }
    }
}

/// One line on the compute device, e.g. `CUDA 0: NVIDIA H200 (cuDNN 91900)` or
/// `CPU (2 threads; libtorch has no CUDA)`.
pub fn describe() -> String {
    match device() {
        tch::Device::Cuda(i) => format!(
            "CUDA {i}: {} (cuDNN {})",
            cuda_device_name(i).unwrap_or_else(|| "unknown GPU".into()),
            tch::utils::version_cudnn()
        ),
        _ => {
            let why = if mapped_library("libtorch_cuda.so").is_some() {
                "libtorch has CUDA, but no GPU is visible"
            } else {
                "libtorch has no CUDA"
            };
            format!("CPU ({} threads; {why})", tch::utils::get_num_threads())
        }
    }
}

/// One property of GPU `index` as `nvidia-smi --query-gpu=<property>` prints it, without units.
fn nvidia_smi(property: &str, index: usize) -> Option<String> {
    let out = std::process::Command::new("nvidia-smi")
        .args([
            &format!("--query-gpu={property}"),
            "--format=csv,noheader,nounits",
            &format!("--id={index}"),
        ])
        .output()
        .ok()?;
    let value = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!value.is_empty()).then_some(value)
}

/// Turns libtorch's out-of-memory failures into [`Error::OutOfMemory`]; other errors pass.
pub(crate) fn out_of_memory(
    error: Error,
    device: tch::Device,
    batch_size: usize,
    during: impl FnOnce() -> String,
) -> Error {
    if !matches!(error, Error::Torch(_)) {
        return error;
    }
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    let lower = line.to_ascii_lowercase();
    let Some(found) = [
        "out of memory",
        "not enough memory",
        "can't allocate memory",
    ]
    .iter()
    .find_map(|pattern| lower.find(pattern)) else {
        return error;
    };
    // libtorch's own sentence, without our prefix ("libtorch: ") and libtorch's source location
    // ("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: ").
    let before = &line[..found];
    let sentence = [before.rfind(". "), before.rfind(": ")]
        .into_iter()
        .flatten()
        .max()
        .map_or(0, |i| i + 2);
    let message = line[sentence..].trim();
    Error::OutOfMemory {
        device: if device.is_cuda() { "GPU" } else { "CPU" }.into(),
        during: during(),
        batch_size,
        message: message.to_string(),
    }
}

/// The GPU's marketing name, as `nvidia-smi` would print it.
fn cuda_device_name(index: usize) -> Option<String> {
    nvidia_smi("name", index)
}

/// The compute capability of GPU `index`, e.g. 9.0 for an H100; `None` when `nvidia-smi` does
/// not say. Asked once per GPU.
pub fn compute_capability(index: usize) -> Option<f64> {
    static ASKED: Mutex<BTreeMap<usize, Option<f64>>> = Mutex::new(BTreeMap::new());
    let mut asked = ASKED.lock().unwrap_or_else(|e| e.into_inner());
    *asked
        .entry(index)
        .or_insert_with(|| nvidia_smi("compute_cap", index)?.parse().ok())
}

/// The memory of `device` in bytes: a GPU's total, or the RAM available now (from
/// `/proc/meminfo`) for the CPU; `None` when the system does not say.
pub fn memory_bytes(device: tch::Device) -> Option<u64> {
    match device {
        tch::Device::Cuda(index) => {
            let mib: u64 = nvidia_smi("memory.total", index)?.parse().ok()?;
            Some(mib << 20)
        }
        _ => {
            let info = std::fs::read_to_string("/proc/meminfo").ok()?;
            let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_out_of_memory_reads_as_one_sentence() {
        let torch = tch::TchError::Torch(
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total)\nframes"
                .into(),
        );
        let error = out_of_memory(torch.into(), tch::Device::Cuda(0), 50, || {
            "at epoch 2/30, step 7/320".into()
        });
        assert_eq!(
            error.to_string(),
            "out of memory on the GPU at epoch 2/30, step 7/320 with batches of 50 images: lower \
             the batch size (--batch-size, or batch_size), for example to 25; libtorch said: CUDA \
             out of memory. \
             Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total)"
        );
        let other = out_of_memory(
            tch::TchError::Torch(
                "shape mismatch\nException raised from check at shape.cpp:1 (most recent call \
                 first):\nframe #0: f()"
                    .into(),
            )
            .into(),
            tch::Device::Cpu,
            50,
            String::new,
        );
        assert_eq!(other.to_string(), "libtorch: shape mismatch");
    }

    #[test]
    fn libtorch_cuda_is_mapped_whenever_the_installed_torch_has_it() {
        let _ = device();
        let dir = libtorch_dir().expect("libtorch_cpu.so is mapped once tch has run");
        let has_cuda_build = dir.join("libtorch_cuda.so").exists();
        assert_eq!(
            mapped_library("libtorch_cuda.so").is_some(),
            has_cuda_build,
            "libtorch_cuda.so in {} exists: {has_cuda_build}",
            dir.display()
        );
    }
}
