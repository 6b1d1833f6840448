# Streams benchmark (included by bench/CMakeLists.txt). The ZeroMQ peer
# (PUB/SUB + CURVE, libzmq3-dev) is compiled in when libzmq is found.
add_executable(bench_streams ${CMAKE_CURRENT_SOURCE_DIR}/bench_streams.c)
target_link_libraries(bench_streams PRIVATE mosaik_static)
pkg_check_modules(ZMQ QUIET IMPORTED_TARGET libzmq)
if(ZMQ_FOUND)
  target_sources(bench_streams PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/bench_streams_zmq.c)
  target_link_libraries(bench_streams PRIVATE PkgConfig::ZMQ)
  target_compile_definitions(bench_streams PRIVATE MOSAIK_BENCH_ZMQ=1)
else()
  message(STATUS "libzmq not found: bench_streams without its ZeroMQ peer")
endif()
