# libFuzzer targets (tests/fuzz/fuzz_<name>.cpp), built with clang in their own folder:
#   CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DKLLENS_FUZZ=ON
# The library is instrumented for coverage (fuzzer-no-link) and ASan+UBSan; each target
# links libFuzzer's main. Seed corpora: tests/fuzz/corpus/<name>/. See docs/reliability.md.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "KLLENS_FUZZ needs clang (CC=clang-14 CXX=clang++-14)")
endif()
target_compile_options(kllens PRIVATE -fsanitize=fuzzer-no-link)
file(GLOB KLLENS_FUZZ_SOURCES CONFIGURE_DEPENDS tests/fuzz/fuzz_*.cpp)
foreach(src ${KLLENS_FUZZ_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE src)
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE kllens)
endforeach()
