# Groups benchmark: mosaik groups (3/5 nodes, with and without TDX bond
# validation) beside canonical raft over raft_uv_tcp, same program.
if(NOT MOSAIK_TDX)
  return()
endif()
add_executable(bench_groups ${CMAKE_CURRENT_SOURCE_DIR}/bench_groups.c)
target_link_libraries(bench_groups PRIVATE mosaik_static)
