//! Python's formatting of numbers, which Keras's callbacks write into files: `repr(x)` of a
//! float (CSVLogger's cells, a plain `{val_loss}` field) and `str.format`'s named fields with
//! their format specs (ModelCheckpoint's `weights.{epoch:02d}-{val_loss:.4f}.safetensors`).
//!
//! Specs take Python's fill and alignment (`<`, `>`, `^`, `=`), sign (`+`, `-`, space), `0`,
//! width, precision and the types `d` (integers only), `e`, `E`, `f`, `F`, `g`, `G`, `%` or
//! none; anything else in a spec (`#`, `,`, `x`, ...) is refused when the pattern is read.
//! Rust's float formatting rounds exactly, as Python's does, so the digits are Python's.

/// A value for a field: Keras passes the epoch as an int and the logs as floats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Number {
    /// An integer (the epoch).
    Int(i64),
    /// A float (a metric).
    Float(f64),
}

/// A parsed format spec.
#[derive(Clone, Debug, PartialEq)]
struct Spec {
    fill: char,
    align: Option<char>,
    sign: char,
    width: usize,
    precision: Option<usize>,
    kind: Option<char>,
}

/// One piece of a pattern: text, or a named field with its spec.
#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Field { name: String, spec: Spec },
}

/// What Python's `str.format` would refuse in a pattern, or in formatting a value with it; it
/// reads as a phrase about the pattern ("its field {epoch is not closed").
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub(crate) enum PatternError {
    /// A `}` that closes no field.
    #[error("it has a single '}}' (write '}}}}' for a brace)")]
    SingleBrace,
    /// A field that another `{` opens inside.
    #[error("its field {{{0}{{ is not closed")]
    Nested(String),
    /// A field that the pattern's end leaves open.
    #[error("its field {{{0} is not closed")]
    Unclosed(String),
    /// A field without a name, or with an index or a conversion.
    #[error(
        "its field {{{0}}} does not name a value: give a name such as {{epoch}} or {{val_loss}}"
    )]
    Unnamed(String),
    /// A spec outside the subset this module formats.
    #[error("the spec of its field {{{field}}} is not one catsdogs formats: give fill, alignment, sign, 0, width, precision and one of the types d, e, f, g or %, such as {{{name}:.4f}}")]
    Spec { field: String, name: String },
    /// The type `d` for a float.
    #[error("its field {0} is a number with decimals, which the type d does not format: use a spec such as .4f")]
    Decimals(String),
    /// A precision for an integer.
    #[error("its field {0} is an integer, which takes no precision: use a spec such as 02d")]
    IntegerPrecision(String),
}

/// A field of a pattern that has no value to format.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NoValue(pub(crate) String);

/// A `str.format` pattern with named fields, e.g. `weights.{epoch:02d}-{val_loss:.4f}.h5`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pattern {
    parts: Vec<Part>,
}

impl Pattern {
    /// Reads `text`; what Python would refuse otherwise (an unmatched brace, an unnamed or
    /// indexed field, a conversion, a spec outside the subset above).
    pub(crate) fn parse(text: &str) -> Result<Pattern, PatternError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(PatternError::SingleBrace),
                '{' => {
                    let mut field = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') => return Err(PatternError::Nested(field)),
                            Some(c) => field.push(c),
                            None => return Err(PatternError::Unclosed(field)),
                        }
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(field_part(&field)?);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Pattern { parts })
    }

    /// The fields' names, in order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Field { name, .. } => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Whether the field `name` can format `value`: Python refuses `d` for a float, and a
    /// precision for an integer written as one.
    pub(crate) fn check(&self, name: &str, value: Number) -> Result<(), PatternError> {
        for part in &self.parts {
            let Part::Field { name: n, spec } = part else {
                continue;
            };
            if n != name {
                continue;
            }
            match value {
                Number::Float(_) if spec.kind == Some('d') => {
                    return Err(PatternError::Decimals(name.to_string()))
                }
                Number::Int(_)
                    if spec.precision.is_some() && matches!(spec.kind, None | Some('d')) =>
                {
                    return Err(PatternError::IntegerPrecision(name.to_string()))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The text with every field formatted from `value(name)`; the first field that has no
    /// value as the error.
    pub(crate) fn format(&self, value: impl Fn(&str) -> Option<Number>) -> Result<String, NoValue> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field { name, spec } => {
                    let number = value(name).ok_or_else(|| NoValue(name.clone()))?;
                    out.push_str(&spec.format(number));
                }
            }
        }
        Ok(out)
    }
}

/// A field's text between its braces: `name` or `name:spec`.
fn field_part(field: &str) -> Result<Part, PatternError> {
    let (name, spec) = field.split_once(':').unwrap_or((field, ""));
    let plain = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !plain || name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return Err(PatternError::Unnamed(field.to_string()));
    }
    let spec = parse_spec(spec).ok_or_else(|| PatternError::Spec {
        field: field.to_string(),
        name: name.to_string(),
    })?;
    Ok(Part::Field {
        name: name.to_string(),
        spec,
    })
}

/// Python's `[[fill]align][sign][0][width][.precision][type]`, or `None` outside that subset.
fn parse_spec(text: &str) -> Option<Spec> {
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    let mut spec = Spec {
        fill: ' ',
        align: None,
        sign: '-',
        width: 0,
        precision: None,
        kind: None,
    };
    let is_align = |c: &char| "<>^=".contains(*c);
    if chars.len() >= 2 && is_align(&chars[1]) {
        spec.fill = chars[0];
        spec.align = Some(chars[1]);
        at = 2;
    } else if chars.first().is_some_and(is_align) {
        spec.align = Some(chars[0]);
        at = 1;
    }
    if let Some(&c) = chars.get(at).filter(|c| "+- ".contains(**c)) {
        spec.sign = c;
        at += 1;
    }
    if chars.get(at) == Some(&'0') {
        if spec.align.is_none() {
            spec.fill = '0';
            spec.align = Some('=');
        }
        at += 1;
    }
    let digits = |at: &mut usize| -> Option<usize> {
        let start = *at;
        while chars.get(*at).is_some_and(char::is_ascii_digit) {
            *at += 1;
        }
        let text: String = chars[start..*at].iter().collect();
        (!text.is_empty()).then(|| text.parse().ok()).flatten()
    };
    spec.width = digits(&mut at).unwrap_or(0);
    if chars.get(at) == Some(&'.') {
        at += 1;
        spec.precision = Some(digits(&mut at)?);
    }
    if let Some(&c) = chars.get(at) {
        if !"deEfFgG%".contains(c) {
            return None;
        }
        spec.kind = Some(c);
        at += 1;
    }
    (at == chars.len()).then_some(spec)
}

impl Spec {
    /// `format(value, spec)`, as Python gives it.
    fn format(&self, value: Number) -> String {
        let (negative, body) = match (value, self.kind) {
            (Number::Int(i), None | Some('d')) => (i < 0, i.unsigned_abs().to_string()),
            (Number::Int(i), _) => float_body(i as f64, self.kind, self.precision),
            (Number::Float(x), _) => float_body(x, self.kind, self.precision),
        };
        let sign = match (negative, self.sign) {
            (true, _) => "-",
            (false, '+') => "+",
            (false, ' ') => " ",
            _ => "",
        };
        let len = sign.chars().count() + body.chars().count();
        let pad = self.width.saturating_sub(len);
        let fill = |n: usize| self.fill.to_string().repeat(n);
        match self.align.unwrap_or('>') {
            '<' => format!("{sign}{body}{}", fill(pad)),
            '^' => format!("{}{sign}{body}{}", fill(pad / 2), fill(pad - pad / 2)),
            '=' => format!("{sign}{}{body}", fill(pad)),
            _ => format!("{}{sign}{body}", fill(pad)),
        }
    }
}

/// A float's digits without its sign, in presentation `kind` (`None`: repr, or `g` with at
/// least one decimal when a precision is given), and whether it is negative.
fn float_body(x: f64, kind: Option<char>, precision: Option<usize>) -> (bool, String) {
    let negative = x.is_sign_negative() && !x.is_nan();
    let x = x.abs();
    let upper = kind.is_some_and(|k| k.is_ascii_uppercase());
    let body = if !x.is_finite() {
        let text = if x.is_nan() { "nan" } else { "inf" };
        if kind == Some('%') {
            format!("{text}%")
        } else {
            text.to_string()
        }
    } else {
        match (kind, precision) {
            (Some('f' | 'F'), p) => format!("{x:.*}", p.unwrap_or(6)),
            (Some('e' | 'E'), p) => scientific(x, p.unwrap_or(6)),
            (Some('%'), p) => format!("{:.*}%", p.unwrap_or(6), x * 100.0),
            (Some('g' | 'G'), p) => general(x, p.unwrap_or(6).max(1), false),
            (_, Some(p)) => general(x, p.max(1), true),
            (_, None) => repr_abs(x),
        }
    };
    let body = if upper { body.to_uppercase() } else { body };
    (negative, body)
}

/// `x` (finite, not negative) in scientific notation with `precision` decimals and Python's
/// exponent of at least two digits: `1.500000e-05`.
fn scientific(x: f64, precision: usize) -> String {
    let text = format!("{x:.precision$e}");
    let (mantissa, exponent) = text.split_once('e').expect("{:e} writes an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} writes a number");
    python_exponent(mantissa, exponent)
}

fn python_exponent(mantissa: &str, exponent: i32) -> String {
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

/// The shortest digits of `x` (finite, not negative) that read back as `x`, and the decimal
/// exponent of the first: `(b"15", -5)` for 1.5e-05.
fn shortest(x: f64) -> (String, i32) {
    let text = format!("{x:e}");
    let (mantissa, exponent) = text.split_once('e').expect("{:e} writes an exponent");
    (
        mantissa.replace('.', ""),
        exponent.parse().expect("{:e} writes a number"),
    )
}

/// Digits with the decimal point after `point` of them (which may be before or after them
/// all): `place("15", -4)` is `0.000015`, `place("15", 3)` is `150`.
fn place(digits: &str, point: i32) -> String {
    let len = digits.len() as i32;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point >= len {
        format!("{digits}{}", "0".repeat((point - len) as usize))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    }
}

/// Python's `repr(x)` of a finite float that is not negative: fixed notation when the decimal
/// point falls within 4 places before the digits and 16 after the first, scientific otherwise.
fn repr_abs(x: f64) -> String {
    let (digits, exponent) = shortest(x);
    let point = exponent + 1;
    if point > -4 && point <= 16 {
        let text = place(&digits, point);
        if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        }
    } else {
        exponential(&digits, exponent)
    }
}

/// Digits in scientific notation, with as many decimals as there are digits after the first:
/// `exponential("15", -5)` is `1.5e-05`.
fn exponential(digits: &str, exponent: i32) -> String {
    let (first, rest) = digits.split_at(1);
    if rest.is_empty() {
        python_exponent(first, exponent)
    } else {
        python_exponent(&format!("{first}.{rest}"), exponent)
    }
}

/// Python's `g` with `precision` significant digits (at least 1), trailing zeros removed;
/// with `dot_0` (the spec without a type), fixed notation keeps one decimal and switches to
/// scientific one place earlier.
fn general(x: f64, precision: usize, dot_0: bool) -> String {
    let rounded = format!("{x:.*e}", precision - 1);
    let (mantissa, exponent) = rounded.split_once('e').expect("{:e} writes an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} writes a number");
    let digits = mantissa.replace('.', "");
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let last_fixed = precision as i32 - i32::from(dot_0);
    let point = exponent + 1;
    if point > -4 && point <= last_fixed {
        let text = place(digits, point);
        if dot_0 && !text.contains('.') {
            format!("{text}.0")
        } else {
            text
        }
    } else {
        exponential(digits, exponent)
    }
}

/// Python's `repr(x)` of a float: `0.6931471805599453`, `1.0`, `0.0001`, `1e-05`, `1e+16`,
/// `nan`, `inf`, `-0.0`.
pub(crate) fn repr(x: f64) -> String {
    let (negative, body) = float_body(x, None, None);
    if negative {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_writes_what_python_writes() {
        let cases = [
            (0.6931471824645996, "0.6931471824645996"),
            (1.0, "1.0"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123.25, "123.25"),
            (-0.0, "-0.0"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (x, python) in cases {
            assert_eq!(repr(x), python, "{x}");
        }
    }

    #[test]
    fn fields_format_as_python_formats_them() {
        let pattern =
            Pattern::parse("w.{epoch:02d}-{val_loss:.4f}-{acc:+08.3e}-{{x}}-{val_acc:g}.st")
                .unwrap();
        let value = |name: &str| match name {
            "epoch" => Some(Number::Int(3)),
            "val_loss" => Some(Number::Float(0.123456)),
            "acc" => Some(Number::Float(0.5)),
            "val_acc" => Some(Number::Float(0.25)),
            _ => None,
        };
        assert_eq!(
            pattern.format(value).unwrap(),
            "w.03-0.1235-+5.000e-01-{x}-0.25.st"
        );
        assert_eq!(
            pattern.fields().collect::<Vec<_>>(),
            ["epoch", "val_loss", "acc", "val_acc"]
        );
    }

    #[test]
    fn what_python_refuses_is_refused() {
        for bad in [
            "{}", "{0}", "{a.b}", "{a", "a}", "{a:,}", "{a:x}", "{a:#f}", "{a!r}",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        let pattern = Pattern::parse("{val_loss:d}").unwrap();
        assert!(pattern.check("val_loss", Number::Float(1.0)).is_err());
        assert!(pattern.check("val_loss", Number::Int(1)).is_ok());
    }
}
