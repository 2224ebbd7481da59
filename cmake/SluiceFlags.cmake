# Compiler flags shared by every sluice target: strict C11, warnings as errors,
# hardening in optimised builds, the optional sanitizer build and the
# libFuzzer build (every library instrumented for coverage, with ASan and
# UBSan; tests/fuzz links libFuzzer itself).
add_library(sl_flags INTERFACE)
target_compile_options(sl_flags INTERFACE
  $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Werror -Wshadow -Wconversion -pedantic-errors>
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror>)
target_compile_definitions(sl_flags INTERFACE OPENSSL_API_COMPAT=30000 OPENSSL_NO_DEPRECATED
  _POSIX_C_SOURCE=200809L)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  target_compile_options(sl_flags INTERFACE $<$<COMPILE_LANGUAGE:C,CXX>:-fstack-protector-strong>)
  target_compile_definitions(sl_flags INTERFACE $<$<COMPILE_LANGUAGE:C,CXX>:_FORTIFY_SOURCE=2>)
endif()
if(SL_SANITIZE)
  set(SL_SAN_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_compile_options(${SL_SAN_FLAGS})
  add_link_options(${SL_SAN_FLAGS})
endif()
if(SL_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SL_FUZZ needs Clang's libFuzzer: configure with CC=clang CXX=clang++ "
                        "(scripts/fuzz.sh does)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
