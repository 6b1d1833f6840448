# cmake/man.cmake — write mosaik(1): `CLI help --man > OUT`, at build time.
# The page is made from the command tables and the --help texts by the
# binary itself (tools/mosaik/cli_help.c), so it cannot drift from them.
execute_process(COMMAND "${CLI}" help --man OUTPUT_FILE "${OUT}.tmp" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE "${OUT}.tmp")
  message(FATAL_ERROR "mosaik help --man failed (${rc})")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
