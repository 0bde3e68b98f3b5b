// Byte framing of the two BitTorrent messages the plugin writes itself: a BEP 10 extended message and a
// BEP 6 reject. libtorrent's peer_connection_handle only offers send_buffer(), so the plugin frames them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace piecepay::torrent::frame {

/// BitTorrent message id of BEP 10 extended messages.
inline constexpr std::uint8_t kMsgExtended = 20;
/// BitTorrent message id of a BEP 6 reject-request.
inline constexpr std::uint8_t kMsgReject = 16;
/// Bit of reserved byte 7 of the handshake that announces the BEP 6 fast extension.
inline constexpr std::uint8_t kFastExtensionBit = 0x04;

inline void put_u32(char* out, std::uint32_t v) {
  out[0] = static_cast<char>(v >> 24);
  out[1] = static_cast<char>(v >> 16);
  out[2] = static_cast<char>(v >> 8);
  out[3] = static_cast<char>(v);
}

inline std::uint32_t get_u32(const char* in) {
  auto b = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

/// `<len><20><ext_id><payload>`: the extended message `ext_id` (the id the *receiver* chose in its
/// extended handshake) carrying `payload`.
inline std::string extended(std::uint8_t ext_id, std::string_view payload) {
  std::string out(6 + payload.size(), '\0');
  put_u32(out.data(), static_cast<std::uint32_t>(2 + payload.size()));
  out[4] = static_cast<char>(kMsgExtended);
  out[5] = static_cast<char>(ext_id);
  out.replace(6, payload.size(), payload);
  return out;
}

/// `<len=13><16><index><begin><length>`: reject of a block request (only to peers with BEP 6).
inline std::array<char, 17> reject(std::uint32_t piece, std::uint32_t start, std::uint32_t length) {
  std::array<char, 17> out{};
  put_u32(out.data(), 13);
  out[4] = static_cast<char>(kMsgReject);
  put_u32(out.data() + 5, piece);
  put_u32(out.data() + 9, start);
  put_u32(out.data() + 13, length);
  return out;
}

/// Whether the 8 reserved handshake bytes announce the fast extension.
inline bool supports_fast(std::string_view reserved) {
  return reserved.size() == 8 && (static_cast<std::uint8_t>(reserved[7]) & kFastExtensionBit) != 0;
}

}  // namespace piecepay::torrent::frame
