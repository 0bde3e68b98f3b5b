// Reading one field of a piecepay message that the C ABI has already accepted. The ABI owns the protocol
// (decoding, canonical form, validation); the plugin only needs to know *who* a message names — the payee
// in `terms` (to pick the channel to that payee) and the payer and salt in `channel` (to look the channel
// up among those the caller checked on chain) — which the ABI's handles do not expose.
#pragma once

#include <libtorrent/bdecode.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace piecepay::torrent::peek {

/// The byte-string field `key` of the bencoded dictionary `payload` when it is exactly `size` bytes long.
inline std::optional<std::string> bytes(std::string_view payload, const char* key, std::size_t size) {
  libtorrent::error_code ec;
  libtorrent::bdecode_node const d =
      libtorrent::bdecode({payload.data(), static_cast<std::ptrdiff_t>(payload.size())}, ec);
  if (ec || d.type() != libtorrent::bdecode_node::dict_t) return std::nullopt;
  libtorrent::bdecode_node const v = d.dict_find_string(key);
  if (!v || v.string_length() != static_cast<int>(size)) return std::nullopt;
  return std::string(v.string_ptr(), size);
}

/// The integer field `key` of the bencoded dictionary `payload` when it is in 0..2^32-1.
inline std::optional<std::uint32_t> u32(std::string_view payload, const char* key) {
  libtorrent::error_code ec;
  libtorrent::bdecode_node const d =
      libtorrent::bdecode({payload.data(), static_cast<std::ptrdiff_t>(payload.size())}, ec);
  if (ec || d.type() != libtorrent::bdecode_node::dict_t) return std::nullopt;
  libtorrent::bdecode_node const v = d.dict_find_int(key);
  if (!v) return std::nullopt;
  std::int64_t const n = v.int_value();
  if (n < 0 || n > 0xffffffffLL) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

/// Whether the message `payload` is of type `type` (its `t` field).
inline bool type_is(std::string_view payload, std::string_view type) {
  libtorrent::error_code ec;
  libtorrent::bdecode_node const d =
      libtorrent::bdecode({payload.data(), static_cast<std::ptrdiff_t>(payload.size())}, ec);
  if (ec || d.type() != libtorrent::bdecode_node::dict_t) return false;
  auto const t = d.dict_find_string_value("t");
  return std::string_view(t.data(), t.size()) == type;
}

}  // namespace piecepay::torrent::peek
