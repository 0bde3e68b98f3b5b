//! The bounded, strict decoder.

use std::collections::BTreeMap;

use super::Value;
use crate::{Error, Result};

/// The most any [`Limits::max_depth`] can be: decoding recurses once per level, so this bounds the stack
/// whatever a caller asks for.
const DEPTH_CEILING: usize = 64;

/// An `i128` has at most 39 decimal digits; more can only overflow.
const MAX_INT_DIGITS: usize = 39;

/// String lengths above 10 digits exceed any input the limits allow.
const MAX_LEN_DIGITS: usize = 10;

/// Bounds on what one decode accepts, checked before any work that depends on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most input bytes.
    pub max_len: usize,
    /// Most nesting of lists and dictionaries (a flat dictionary is depth 1); at most 64.
    pub max_depth: usize,
}

impl Default for Limits {
    /// The limits of a piecepay message: [`MAX_MESSAGE_LEN`](crate::MAX_MESSAGE_LEN) bytes, depth 8.
    fn default() -> Self {
        Self {
            max_len: crate::MAX_MESSAGE_LEN,
            max_depth: 8,
        }
    }
}

/// Decodes exactly one canonical value filling `input`, within the default [`Limits`].
pub fn decode(input: &[u8]) -> Result<Value> {
    decode_with(input, Limits::default())
}

/// Decodes exactly one canonical value filling `input`, within `limits`.
pub fn decode_with(input: &[u8], limits: Limits) -> Result<Value> {
    if input.len() > limits.max_len {
        return Err(Error::TooLarge {
            len: input.len(),
            limit: limits.max_len,
        });
    }
    let mut reader = Reader {
        input,
        pos: 0,
        max_depth: limits.max_depth.min(DEPTH_CEILING),
    };
    let value = reader.value(0)?;
    if reader.pos != input.len() {
        return Err(reader.malformed("trailing bytes after the value"));
    }
    Ok(value)
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl Reader<'_> {
    fn malformed(&self, reason: &'static str) -> Error {
        Error::Malformed {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Result<u8> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.malformed("unexpected end of input"))
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        match self.peek()? {
            b'i' => self.int().map(Value::Int),
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            b'l' => {
                self.enter(depth)?;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                self.enter(depth)?;
                let mut entries = BTreeMap::new();
                let mut last: Option<Vec<u8>> = None;
                while self.peek()? != b'e' {
                    let key_at = self.pos;
                    if !self.peek()?.is_ascii_digit() {
                        return Err(self.malformed("dictionary key is not a byte string"));
                    }
                    let key = self.bytes()?;
                    if let Some(last) = &last
                        && key <= *last
                    {
                        return Err(Error::NotCanonical {
                            offset: key_at,
                            reason: if key == *last {
                                "duplicate dictionary key"
                            } else {
                                "dictionary keys not sorted"
                            },
                        });
                    }
                    let value = self.value(depth + 1)?;
                    last = Some(key.clone());
                    entries.insert(key, value);
                }
                self.pos += 1;
                Ok(Value::Dict(entries))
            }
            _ => Err(self.malformed("not the start of a value")),
        }
    }

    /// Steps into a list or dictionary at `depth` (0 for the outermost value).
    fn enter(&mut self, depth: usize) -> Result<()> {
        if depth >= self.max_depth {
            return Err(Error::TooDeep {
                limit: self.max_depth,
            });
        }
        self.pos += 1;
        Ok(())
    }

    /// The run of ASCII digits at the cursor, at most `max` long.
    fn digits(&mut self, max: usize, too_long: Error) -> Result<&[u8]> {
        let start = self.pos;
        let run = self.input[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if run == 0 {
            return Err(self.malformed("expected a digit"));
        }
        if run > max {
            return Err(too_long);
        }
        if run > 1 && self.input[start] == b'0' {
            return Err(Error::NotCanonical {
                offset: start,
                reason: "leading zero",
            });
        }
        self.pos += run;
        Ok(&self.input[start..start + run])
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<()> {
        if self.peek()? != byte {
            return Err(self.malformed(reason));
        }
        self.pos += 1;
        Ok(())
    }

    fn int(&mut self) -> Result<i128> {
        let start = self.pos;
        self.pos += 1;
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let out_of_range = Error::IntegerOutOfRange { offset: start };
        let digits = self.digits(MAX_INT_DIGITS, out_of_range.clone())?;
        if negative && digits == b"0" {
            return Err(Error::NotCanonical {
                offset: start,
                reason: "negative zero",
            });
        }
        // Accumulate towards the sign so that i128::MIN, whose magnitude has no positive twin, parses.
        let mut value: i128 = 0;
        for &digit in digits {
            let digit = i128::from(digit - b'0');
            value = value
                .checked_mul(10)
                .and_then(|v| {
                    if negative {
                        v.checked_sub(digit)
                    } else {
                        v.checked_add(digit)
                    }
                })
                .ok_or_else(|| out_of_range.clone())?;
        }
        self.expect(b'e', "integer not terminated by 'e'")?;
        Ok(value)
    }

    fn bytes(&mut self) -> Result<Vec<u8>> {
        let too_long = self.malformed("string length runs past the end of the input");
        let digits = self.digits(MAX_LEN_DIGITS, too_long.clone())?;
        let len = digits
            .iter()
            .fold(0usize, |len, d| len * 10 + usize::from(d - b'0'));
        self.expect(b':', "string length not followed by ':'")?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.input.len())
            .ok_or(too_long)?;
        let bytes = self.input[self.pos..end].to_vec();
        self.pos = end;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(input: &[u8]) -> &'static str {
        decode(input).unwrap_err().code()
    }

    #[test]
    fn decodes_each_kind() {
        assert_eq!(decode(b"i42e"), Ok(Value::Int(42)));
        assert_eq!(decode(b"i-7e"), Ok(Value::Int(-7)));
        assert_eq!(decode(b"i0e"), Ok(Value::Int(0)));
        assert_eq!(decode(b"3:abc"), Ok(Value::bytes("abc")));
        assert_eq!(decode(b"0:"), Ok(Value::bytes("")));
        assert_eq!(decode(b"le"), Ok(Value::List(vec![])));
        assert_eq!(
            decode(b"d1:ai1e1:bli2eee"),
            Ok(Value::Dict(BTreeMap::from([
                (b"a".to_vec(), Value::Int(1)),
                (b"b".to_vec(), Value::List(vec![Value::Int(2)])),
            ])))
        );
    }

    #[test]
    fn integer_extremes() {
        let max = format!("i{}e", i128::MAX);
        let min = format!("i{}e", i128::MIN);
        assert_eq!(decode(max.as_bytes()), Ok(Value::Int(i128::MAX)));
        assert_eq!(decode(min.as_bytes()), Ok(Value::Int(i128::MIN)));
        assert_eq!(
            code(b"i170141183460469231731687303715884105728e"),
            "integer_out_of_range"
        );
        assert_eq!(
            code(&[b"i".as_slice(), &[b'9'; 60], b"e"].concat()),
            "integer_out_of_range"
        );
    }

    #[test]
    fn rejects_non_canonical_forms() {
        for input in [
            b"i03e".as_slice(),
            b"i-0e",
            b"i-03e",
            b"03:abc",
            b"d1:bi1e1:ai2ee",
            b"d1:ai1e1:ai2ee",
        ] {
            assert_eq!(code(input), "not_canonical", "{input:?}");
        }
    }

    #[test]
    fn rejects_malformed_input() {
        for input in [
            b"".as_slice(),
            b"i",
            b"ie",
            b"i-e",
            b"i+1e",
            b"i1",
            b"i1x",
            b"4:abc",
            b"3abc",
            b"l",
            b"li1e",
            b"d",
            b"di1ei2ee",
            b"d1:a",
            b"x",
            b"i1ei2e",
            b"99999999999:a",
            b"-1:a",
        ] {
            assert_eq!(code(input), "malformed", "{input:?}");
        }
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let limits = Limits {
            max_len: 1 << 20,
            max_depth: 3,
        };
        assert!(decode_with(b"llleee", limits).is_ok());
        assert_eq!(
            decode_with(b"lllleeee", limits),
            Err(Error::TooDeep { limit: 3 })
        );
        let bomb = [vec![b'l'; 100_000], vec![b'e'; 100_000]].concat();
        let unlimited = Limits {
            max_len: usize::MAX,
            max_depth: usize::MAX,
        };
        assert_eq!(
            decode_with(&bomb, unlimited),
            Err(Error::TooDeep {
                limit: DEPTH_CEILING
            })
        );
        assert_eq!(
            decode(&vec![b'l'; crate::MAX_MESSAGE_LEN + 1])
                .unwrap_err()
                .code(),
            "too_large"
        );
    }

    #[test]
    fn reencoding_gives_back_the_input() {
        let input = b"d1:ai-5e3:keyl0:i0ed1:xleee1:t4:spame";
        assert_eq!(decode(input).unwrap().encode(), input);
    }
}
