//! `torch.save` files of a state dict, read without Python: the zip format (PyTorch 1.6 and
//! later: `<name>/data.pkl` plus one entry per storage, `<name>/data/<key>`) and the older
//! format that torchvision's own VGG16 file uses (a few pickles, then each storage as an i64
//! element count and its bytes).
//!
//! One idea in one file (over 400 lines): a reader of PyTorch's pickled state dicts.
//!
//! The pickle machine below knows only what a state dict pickles to: dicts, tuples, lists,
//! numbers, strings, `OrderedDict`, and tensors (`torch._utils._rebuild_tensor_v2` over a
//! storage given by persistent id). Everything else becomes an opaque value.
//!
//! A pickle is a program, and a hostile one can make a reader build far more than its own size:
//! a few hundred bytes that copy a memoized value into itself again and again double it each
//! time, and a million `(` nest a million tuples. So the machine counts what it builds before it
//! builds it (at most [`MAX_OBJECTS`] values and [`MAX_BYTES`] bytes, copies from the memo
//! included) and how deeply values nest (at most [`MAX_DEPTH`]): a state dict needs a small
//! fraction of each.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// The zip signature, and the start of the older format: protocol 2, then the magic number.
const ZIP_SIGNATURE: &[u8] = b"PK\x03\x04";
const LEGACY_SIGNATURE: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

/// The most values one pickle may build (counting a value again each time it is moved into a
/// container or copied): torchvision's ResNet50 state dict builds 20,343 (VGG16's 2,490).
const MAX_OBJECTS: u64 = 1 << 21;
/// The most bytes one pickle may build (its values, strings and copies): ResNet50's state dict
/// builds 2 MB.
const MAX_BYTES: u64 = 128 << 20;
/// The deepest that values may nest: a state dict nests about five deep.
const MAX_DEPTH: usize = 100;

/// Whether a file starting with `head` is a `torch.save` file.
pub(super) fn is_torch_save(head: &[u8]) -> bool {
    head.starts_with(ZIP_SIGNATURE) || head.starts_with(LEGACY_SIGNATURE)
}

/// The tensors of the state dict saved in `path` (a `{"state_dict": ...}` wrapper is looked
/// through), as float32 or their own integer kinds, contiguous, on the CPU.
pub(super) fn read_state_dict(path: &Path) -> Result<HashMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    let unreadable = |why: String| Error::Unreadable {
        path: path.to_path_buf(),
        format: "a torch.save file",
        why,
    };
    let tensors = if bytes.starts_with(ZIP_SIGNATURE) {
        read_zip(&bytes)
    } else {
        read_legacy(&bytes)
    };
    tensors.map_err(|why| unreadable(why.to_string()))
}

/// Why a `torch.save` file is not a state dict that this reader reads; it completes "cannot
/// read FILE as a torch.save file: ...".
#[derive(Debug, thiserror::Error)]
enum Unpickling {
    /// Something a state dict's pickle or storages always have is missing or malformed, e.g.
    /// "the pickle's stack underflows".
    #[error("{0}")]
    Malformed(&'static str),
    /// The zip archive cannot be read.
    #[error("{0}")]
    Zip(#[from] zip::result::ZipError),
    /// An entry of the zip archive cannot be read.
    #[error("entry {entry}: {reason}")]
    Entry {
        entry: String,
        reason: std::io::Error,
    },
    /// An entry of the zip archive larger than any storage.
    #[error("entry {0} is larger than any tensor")]
    EntryTooLarge(String),
    /// A storage (its key) without its type.
    #[error("storage {0} has no type")]
    Untyped(String),
    /// A tensor (its name) whose storage is not in the file.
    #[error("the storage of {0} is missing")]
    NoStorage(String),
    /// A storage type that this reader does not read.
    #[error("storages of type {0} are not supported")]
    StorageType(String),
    /// A tensor kind that this reader does not read.
    #[error("tensors of kind {0:?} are not supported")]
    Kind(Kind),
    /// A tensor of too many values.
    #[error("{0}")]
    Elements(#[from] crate::tensor_file::TooManyElements),
    /// A tensor (its shape) that reads past its storage.
    #[error("a tensor of shape {0:?} reads past its storage")]
    PastStorage(Vec<i64>),
    /// libtorch refused to make a tensor of the storage.
    #[error("{0}")]
    Torch(#[from] tch::TchError),
    /// A string that is not UTF-8.
    #[error("{0}")]
    Utf8(#[from] std::string::FromUtf8Error),
    /// A pickle that builds more than [`MAX_OBJECTS`] values or [`MAX_BYTES`] bytes.
    #[error("the pickle builds more than {MAX_OBJECTS} values or {} MiB (it copies its own values over and over), far more than a state dict: it is not a file that torch.save wrote", MAX_BYTES >> 20)]
    TooLarge,
    /// A pickle that nests values deeper than [`MAX_DEPTH`].
    #[error("the pickle nests values more than {MAX_DEPTH} deep, far more than a state dict: it is not a file that torch.save wrote")]
    TooDeep,
    /// An opcode that this reader does not run.
    #[error("unsupported pickle opcode 0x{0:02x}")]
    Opcode(u8),
}

impl From<&'static str> for Unpickling {
    fn from(what: &'static str) -> Self {
        Unpickling::Malformed(what)
    }
}

type Reading<T> = std::result::Result<T, Unpickling>;

fn read_zip(bytes: &[u8]) -> Reading<HashMap<String, Tensor>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
    let pickle_name = archive
        .file_names()
        .find(|n| n.ends_with("data.pkl"))
        .map(str::to_string)
        .ok_or("the zip archive has no data.pkl")?;
    let prefix = &pickle_name[..pickle_name.len() - "data.pkl".len()];
    let mut entry = |name: &str| -> Reading<Vec<u8>> {
        let entry = format!("{prefix}{name}");
        let mut file = archive.by_name(&entry).map_err(|e| Unpickling::Entry {
            entry: entry.clone(),
            reason: e.into(),
        })?;
        // A storage holds at most the values of the largest tensor, as double precision.
        let bound = crate::tensor_file::MAX_TENSOR_ELEMENTS * 8;
        let mut data = Vec::new();
        (&mut file)
            .take(bound + 1)
            .read_to_end(&mut data)
            .map_err(|reason| Unpickling::Entry {
                entry: entry.clone(),
                reason,
            })?;
        if data.len() as u64 > bound {
            return Err(Unpickling::EntryTooLarge(entry));
        }
        Ok(data)
    };
    if let Ok(order) = entry("byteorder") {
        if order != b"little" {
            return Err("its tensors are big-endian; save them on a little-endian machine".into());
        }
    }
    let root = Machine::new(&entry("data.pkl")?).run()?.value;
    let mut storages = HashMap::new();
    state_dict(root)?
        .into_iter()
        .map(|(name, tensor)| {
            let key = &tensor.storage.key;
            if !storages.contains_key(key) {
                storages.insert(key.clone(), entry(&format!("data/{key}"))?);
            }
            let tensor = tensor.build(&storages[key])?;
            Ok((name, tensor))
        })
        .collect()
}

fn read_legacy(bytes: &[u8]) -> Reading<HashMap<String, Tensor>> {
    let mut position = 0;
    let mut next = || -> Reading<Pickled> {
        let pickled = Machine::new(&bytes[position..]).run()?;
        position += pickled.len;
        Ok(pickled)
    };
    let _magic = next()?;
    let _protocol = next()?;
    let _sys_info = next()?;
    let root = next()?;
    let Value::List(keys) = next()?.value else {
        return Err("the list of storages is missing".into());
    };
    let keys = keys.values;
    let tensors = state_dict(root.value)?;
    let mut storages = HashMap::new();
    for key in keys {
        let Value::Str(key) = key else {
            return Err("a storage key is not a string".into());
        };
        let kind = root
            .storages
            .get(&key)
            .ok_or_else(|| Unpickling::Untyped(key.clone()))?;
        let element_size = element_size(*kind)?;
        let count = bytes
            .get(position..position + 8)
            .ok_or("the file ends inside the storages")?;
        let count = u64::from_le_bytes(count.try_into().expect("8 bytes"));
        let len = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(element_size))
            .ok_or("a storage is too large")?;
        let start = position + 8;
        let data = bytes
            .get(start..start.saturating_add(len))
            .ok_or("the file ends inside the storages")?;
        storages.insert(key, data);
        position = start + len;
    }
    tensors
        .into_iter()
        .map(|(name, tensor)| {
            let data = storages
                .get(&tensor.storage.key)
                .ok_or_else(|| Unpickling::NoStorage(name.clone()))?;
            Ok((name, tensor.build(data)?))
        })
        .collect()
}

/// The (name, tensor) entries of the pickled state dict.
fn state_dict(root: Value) -> Reading<Vec<(String, TensorRef)>> {
    let Value::Dict(items) = root else {
        return Err("it holds no dict of tensors (a state_dict)".into());
    };
    let mut pairs = pairs(items.values);
    if let Some(i) = pairs
        .iter()
        .position(|(k, v)| matches!((k, v), (Value::Str(k), Value::Dict(_)) if k == "state_dict"))
    {
        let (_, Value::Dict(inner)) = pairs.swap_remove(i) else {
            unreachable!("matched above")
        };
        pairs = self::pairs(inner.values);
    }
    Ok(pairs
        .into_iter()
        .filter_map(|(k, v)| match (k, v) {
            (Value::Str(name), Value::Tensor(t)) => Some((name, t)),
            _ => None,
        })
        .collect())
}

/// A dict's keys and values, which it holds one after the other, as pairs.
fn pairs(values: Vec<Value>) -> Vec<(Value, Value)> {
    let mut values = values.into_iter();
    std::iter::from_fn(|| Some((values.next()?, values.next()?))).collect()
}

fn element_size(kind: Kind) -> Reading<usize> {
    Ok(match kind {
        Kind::Double | Kind::Int64 => 8,
        Kind::Float | Kind::Int => 4,
        Kind::Half | Kind::BFloat16 | Kind::Int16 => 2,
        Kind::Uint8 | Kind::Int8 | Kind::Bool => 1,
        other => return Err(Unpickling::Kind(other)),
    })
}

#[derive(Clone, Debug)]
struct StorageRef {
    key: String,
    kind: Kind,
}

#[derive(Clone, Debug)]
struct TensorRef {
    storage: StorageRef,
    offset: i64,
    size: Vec<i64>,
    stride: Vec<i64>,
}

impl TensorRef {
    /// The tensor over the storage's bytes `data`, contiguous, float32 if it is floating point.
    fn build(&self, data: &[u8]) -> Reading<Tensor> {
        let numel = (data.len() / element_size(self.storage.kind)?) as i64;
        crate::tensor_file::checked_elements(&self.size)?;
        let last = self
            .size
            .iter()
            .zip(&self.stride)
            .try_fold(self.offset, |acc, (&n, &s)| {
                (n >= 0 && s >= 0)
                    .then(|| (n - 1).max(0).checked_mul(s)?.checked_add(acc))
                    .flatten()
            });
        let empty = self.size.contains(&0);
        if !empty && last.is_none_or(|last| last >= numel) || self.offset < 0 {
            return Err(Unpickling::PastStorage(self.size.clone()));
        }
        let storage = Tensor::f_from_data_size(data, &[numel], self.storage.kind)?;
        let tensor =
            storage.f_as_strided(self.size.as_slice(), self.stride.as_slice(), self.offset)?;
        let tensor = if tensor.is_floating_point() {
            tensor.f_to_kind(Kind::Float)?
        } else {
            tensor
        };
        Ok(tensor.f_contiguous()?)
    }
}

/// A pickled value; what a state dict does not need is `Other`.
#[derive(Clone, Debug)]
enum Value {
    None,
    Int(i64),
    Str(String),
    Tuple(Items),
    List(Items),
    /// Keys and values, one after the other.
    Dict(Items),
    Global(String),
    Storage(StorageRef),
    Tensor(TensorRef),
    Other,
}

/// The values of a tuple, a list or a dict, with how deeply they nest and what they weigh, kept
/// up to date as values come in, so that the bounds are checked without walking them.
#[derive(Clone, Debug, Default)]
struct Items {
    values: Vec<Value>,
    depth: usize,
    weight: Weight,
}

/// What values take: how many there are, and their bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Weight {
    objects: u64,
    bytes: u64,
}

impl Weight {
    fn add(self, other: Weight) -> Weight {
        Weight {
            objects: self.objects + other.objects,
            bytes: self.bytes + other.bytes,
        }
    }
}

/// The weight of one value slot, without what it points to.
const SLOT: Weight = Weight {
    objects: 1,
    bytes: std::mem::size_of::<Value>() as u64,
};

impl Items {
    fn new(values: Vec<Value>) -> Items {
        let mut items = Items::default();
        items.extend(values);
        items
    }

    fn extend(&mut self, values: impl IntoIterator<Item = Value>) {
        for value in values {
            self.depth = self.depth.max(value.depth() + 1);
            self.weight = self.weight.add(value.weight());
            self.values.push(value);
        }
    }
}

impl Value {
    /// How deeply containers nest in it: 0 for a number or a string.
    fn depth(&self) -> usize {
        match self {
            Value::Tuple(items) | Value::List(items) | Value::Dict(items) => items.depth,
            _ => 0,
        }
    }

    /// What it takes in memory, all it holds included.
    fn weight(&self) -> Weight {
        let held = match self {
            Value::Str(s) | Value::Global(s) => s.len() as u64,
            Value::Storage(storage) => storage.key.len() as u64,
            Value::Tensor(t) => {
                t.storage.key.len() as u64 + 8 * (t.size.len() + t.stride.len()) as u64
            }
            Value::Tuple(items) | Value::List(items) | Value::Dict(items) => {
                return SLOT.add(items.weight)
            }
            Value::None | Value::Int(_) | Value::Other => 0,
        };
        SLOT.add(Weight {
            objects: 0,
            bytes: held,
        })
    }
}

/// A pickle machine over one pickle.
struct Machine<'a> {
    data: &'a [u8],
    position: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    storages: HashMap<String, Kind>,
    /// What the values built so far took (never given back: a bound on the peak).
    built: Weight,
}

/// What one pickle holds: its value, its length in bytes, and the kinds of the storages it
/// refers to by key.
struct Pickled {
    value: Value,
    len: usize,
    storages: HashMap<String, Kind>,
}

impl<'a> Machine<'a> {
    fn new(data: &'a [u8]) -> Self {
        Machine {
            data,
            position: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            storages: HashMap::new(),
            built: Weight::default(),
        }
    }

    /// Counts `weight` more built, or refuses to build it past the bounds.
    fn charge(&mut self, weight: Weight) -> Reading<()> {
        self.built = self.built.add(weight);
        if self.built.objects > MAX_OBJECTS || self.built.bytes > MAX_BYTES {
            return Err(Unpickling::TooLarge);
        }
        Ok(())
    }

    /// Refuses values that nest deeper than [`MAX_DEPTH`].
    fn check_depth(depth: usize) -> Reading<()> {
        if depth > MAX_DEPTH {
            return Err(Unpickling::TooDeep);
        }
        Ok(())
    }

    /// Pushes a value made of values that were already counted (moved into it), counting the
    /// slots that hold them.
    fn push_built(&mut self, value: Value) -> Reading<()> {
        Machine::check_depth(value.depth())?;
        let slots = match &value {
            Value::Tuple(items) | Value::List(items) | Value::Dict(items) => items.values.len(),
            _ => 0,
        } as u64;
        self.charge(Weight {
            objects: 1 + slots,
            bytes: (1 + slots) * SLOT.bytes,
        })?;
        self.stack.push(value);
        Ok(())
    }

    /// Pushes a new value, counting all of it (a copy from the memo, or a string just read).
    fn push_new(&mut self, value: Value) -> Reading<()> {
        self.charge(value.weight())?;
        self.stack.push(value);
        Ok(())
    }

    /// Appends `values` to the list or dict on top of the stack (anything else ignores them).
    fn extend_top(&mut self, values: Vec<Value>) -> Reading<()> {
        let slots = values.len() as u64;
        self.charge(Weight {
            objects: 0,
            bytes: slots * SLOT.bytes,
        })?;
        if let Value::List(items) | Value::Dict(items) = self.top()? {
            items.extend(values);
            return Machine::check_depth(items.depth);
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Reading<&'a [u8]> {
        let bytes = self
            .data
            .get(self.position..self.position.saturating_add(n))
            .ok_or("the pickle ends early")?;
        self.position += n;
        Ok(bytes)
    }

    fn uint(&mut self, n: usize) -> Reading<u64> {
        let mut buf = [0u8; 8];
        buf[..n].copy_from_slice(self.take(n)?);
        Ok(u64::from_le_bytes(buf))
    }

    fn line(&mut self) -> Reading<String> {
        let rest = &self.data[self.position..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the pickle ends early")?;
        self.position += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn text(&mut self, n: usize) -> Reading<String> {
        Ok(String::from_utf8(self.take(n)?.to_vec())?)
    }

    fn pop(&mut self) -> Reading<Value> {
        self.stack
            .pop()
            .ok_or_else(|| "the pickle's stack underflows".into())
    }

    fn pop_mark(&mut self) -> Reading<Vec<Value>> {
        let mark = self.marks.pop().ok_or("the pickle has no mark")?;
        if mark > self.stack.len() {
            return Err("the pickle's stack underflows".into());
        }
        Ok(self.stack.split_off(mark))
    }

    fn top(&mut self) -> Reading<&mut Value> {
        self.stack
            .last_mut()
            .ok_or_else(|| "the pickle's stack is empty".into())
    }

    /// Sets keys and values (one after the other) in the dict on top of the stack; a list
    /// there is left alone.
    fn set_items(&mut self, mut items: Vec<Value>) -> Reading<()> {
        if items.len() % 2 == 1 {
            items.pop();
        }
        if let Value::Dict(_) = self.top()? {
            self.extend_top(items)?;
        }
        Ok(())
    }

    /// Runs to STOP.
    fn run(mut self) -> Reading<Pickled> {
        loop {
            let opcode = self.take(1)?[0];
            match opcode {
                0x80 => {
                    self.take(1)?; // PROTO
                }
                0x95 => {
                    self.take(8)?; // FRAME
                }
                b'.' => {
                    return Ok(Pickled {
                        value: self.pop()?,
                        len: self.position,
                        storages: self.storages,
                    })
                }
                b'(' => {
                    self.charge(SLOT)?;
                    self.marks.push(self.stack.len());
                }
                b'N' => self.push_new(Value::None)?,
                0x88 | 0x89 => self.push_new(Value::Other)?, // True, False
                b'J' => {
                    let v = self.uint(4)? as u32 as i32;
                    self.push_new(Value::Int(v.into()))?;
                }
                b'K' => {
                    let v = self.uint(1)?;
                    self.push_new(Value::Int(v as i64))?;
                }
                b'M' => {
                    let v = self.uint(2)?;
                    self.push_new(Value::Int(v as i64))?;
                }
                0x8a => {
                    // LONG1: little-endian two's complement; only values that fit i64 matter.
                    let n = self.uint(1)? as usize;
                    let bytes = self.take(n)?;
                    let mut v: i64 = 0;
                    for (i, &b) in bytes.iter().take(8).enumerate() {
                        v |= (b as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
                        v -= 1 << (8 * n);
                    }
                    self.push_new(Value::Int(v))?;
                }
                b'G' => {
                    self.take(8)?; // BINFLOAT
                    self.push_new(Value::Other)?;
                }
                b'X' => {
                    let n = self.uint(4)? as usize;
                    let s = self.text(n)?;
                    self.push_new(Value::Str(s))?;
                }
                0x8c => {
                    let n = self.uint(1)? as usize;
                    let s = self.text(n)?;
                    self.push_new(Value::Str(s))?;
                }
                0x8d => {
                    let n = self.uint(8)? as usize;
                    let s = self.text(n)?;
                    self.push_new(Value::Str(s))?;
                }
                b'T' | b'U' | b'B' | b'C' => {
                    let n = match opcode {
                        b'U' | b'C' => self.uint(1)?,
                        _ => self.uint(4)?,
                    } as usize;
                    let bytes = self.take(n)?.to_vec();
                    self.push_new(match String::from_utf8(bytes) {
                        Ok(s) if opcode == b'T' || opcode == b'U' => Value::Str(s),
                        _ => Value::Other,
                    })?;
                }
                b')' => self.push_new(Value::Tuple(Items::default()))?,
                b']' => self.push_new(Value::List(Items::default()))?,
                b'}' => self.push_new(Value::Dict(Items::default()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_built(Value::Tuple(Items::new(items)))?;
                }
                0x85..=0x87 => {
                    let n = (opcode - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("the pickle's stack underflows".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push_built(Value::Tuple(Items::new(items)))?;
                }
                b'q' | b'r' | 0x94 => {
                    let key = match opcode {
                        b'q' => self.uint(1)?,
                        b'r' => self.uint(4)?,
                        _ => self.memo.len() as u64,
                    } as u32;
                    let weight = self.top()?.weight();
                    self.charge(weight)?;
                    let value = self.top()?.clone();
                    self.memo.insert(key, value);
                }
                b'h' | b'j' => {
                    let key = if opcode == b'h' {
                        self.uint(1)?
                    } else {
                        self.uint(4)?
                    } as u32;
                    let weight = self
                        .memo
                        .get(&key)
                        .map(Value::weight)
                        .ok_or("the pickle's memo misses")?;
                    self.charge(weight)?;
                    let value = self.memo[&key].clone();
                    self.stack.push(value);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push_new(Value::Global(format!("{module}.{name}")))?;
                }
                0x93 => {
                    let (Value::Str(name), Value::Str(module)) = (self.pop()?, self.pop()?) else {
                        return Err("a global's name is not a string".into());
                    };
                    self.push_new(Value::Global(format!("{module}.{name}")))?;
                }
                b'Q' => {
                    let storage = storage(self.pop()?)?;
                    self.storages.insert(storage.key.clone(), storage.kind);
                    self.push_new(Value::Storage(storage))?;
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let value = call(callable, args)?;
                    self.push_new(value)?;
                }
                b'b' => {
                    self.pop()?; // BUILD: the state of an object is not needed
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(vec![key, value])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'a' => {
                    let value = self.pop()?;
                    if let Value::List(_) = self.top()? {
                        self.extend_top(vec![value])?;
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    if let Value::List(_) = self.top()? {
                        self.extend_top(items)?;
                    }
                }
                other => return Err(Unpickling::Opcode(other)),
            }
        }
    }
}

/// A storage from its persistent id: ('storage', torch.FloatStorage, key, location, numel, ...).
fn storage(pid: Value) -> Reading<StorageRef> {
    let Value::Tuple(parts) = pid else {
        return Err("a persistent id is not a tuple".into());
    };
    match parts.values.as_slice() {
        [Value::Str(tag), Value::Global(storage_type), Value::Str(key), _, _, rest @ ..]
            if tag == "storage" && rest.iter().all(|v| matches!(v, Value::None)) =>
        {
            let kind = match storage_type.strip_prefix("torch.") {
                Some("FloatStorage") => Kind::Float,
                Some("DoubleStorage") => Kind::Double,
                Some("HalfStorage") => Kind::Half,
                Some("BFloat16Storage") => Kind::BFloat16,
                Some("LongStorage") => Kind::Int64,
                Some("IntStorage") => Kind::Int,
                Some("ShortStorage") => Kind::Int16,
                Some("CharStorage") => Kind::Int8,
                Some("ByteStorage") => Kind::Uint8,
                Some("BoolStorage") => Kind::Bool,
                _ => return Err(Unpickling::StorageType(storage_type.to_string())),
            };
            Ok(StorageRef {
                key: key.clone(),
                kind,
            })
        }
        _ => Err("a persistent id is not a storage".into()),
    }
}

fn ints(value: &Value) -> Option<Vec<i64>> {
    let Value::Tuple(items) = value else {
        return None;
    };
    items
        .values
        .iter()
        .map(|v| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        })
        .collect()
}

/// REDUCE and NEWOBJ: what a state dict needs, or `Other`.
fn call(callable: Value, args: Value) -> Reading<Value> {
    let (Value::Global(name), Value::Tuple(args)) = (callable, args) else {
        return Ok(Value::Other);
    };
    Ok(match (name.as_str(), args.values.as_slice()) {
        ("collections.OrderedDict", []) => Value::Dict(Items::default()),
        (
            "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor",
            [Value::Storage(storage), Value::Int(offset), size, stride, ..],
        ) => {
            let (Some(size), Some(stride)) = (ints(size), ints(stride)) else {
                return Err("a tensor's size or stride is not a tuple of integers".into());
            };
            if size.len() != stride.len() {
                return Err("a tensor's size and stride differ in length".into());
            }
            Value::Tensor(TensorRef {
                storage: storage.clone(),
                offset: *offset,
                size,
                stride,
            })
        }
        (
            "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state",
            [t @ Value::Tensor(_), ..],
        ) => t.clone(),
        _ => Value::Other,
    })
}
