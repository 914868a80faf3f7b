// kllens error handling: one exception type, one check macro.
//
// Every broken precondition or bad input throws kllens::Error with a one-line message.
// The CLI catches it at the top, prints "kllens: <message>" and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace kllens {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Throws kllens::Error with a formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace kllens

// Precondition that stays on in release builds. Message carries file and line.
#define KL_CHECK(cond, ...)                                                              \
  do {                                                                                   \
    if (!(cond))                                                                         \
      throw ::kllens::Error(fmt::format("{}:{}: check failed: {}: {}", __FILE__, __LINE__, \
                                        #cond, fmt::format(__VA_ARGS__)));               \
  } while (0)
