//! The canonical encoder.

use super::Value;

impl Value {
    /// The canonical encoding of this value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the canonical encoding of this value to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Self::Int(value) => {
                out.push(b'i');
                out.extend_from_slice(value.to_string().as_bytes());
                out.push(b'e');
            }
            Self::Bytes(bytes) => encode_bytes(bytes, out),
            Self::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            Self::Dict(entries) => {
                out.push(b'd');
                // BTreeMap iterates in bytewise key order: the canonical order.
                for (key, value) in entries {
                    encode_bytes(key, out);
                    value.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn encodes_each_kind() {
        assert_eq!(Value::Int(0).encode(), b"i0e");
        assert_eq!(Value::Int(-42).encode(), b"i-42e");
        assert_eq!(Value::bytes("spam").encode(), b"4:spam");
        assert_eq!(Value::bytes("").encode(), b"0:");
        assert_eq!(
            Value::List(vec![Value::Int(1), Value::bytes("a")]).encode(),
            b"li1e1:ae"
        );
    }

    #[test]
    fn dictionary_keys_come_out_sorted() {
        let dict = BTreeMap::from([
            (b"zz".to_vec(), Value::Int(1)),
            (b"a".to_vec(), Value::Int(2)),
            (b"b".to_vec(), Value::Int(3)),
        ]);
        assert_eq!(Value::Dict(dict).encode(), b"d1:ai2e1:bi3e2:zzi1ee");
    }
}
