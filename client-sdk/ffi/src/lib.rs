//! piecepay's C ABI over the payer and payee state machines and the wire codec.
