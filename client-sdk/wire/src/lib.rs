//! piecepay's BEP 10 wire extension: bencoded messages and their codec.
