# cmake/uninstall.cmake — remove what an install put in place:
#   cmake -DMANIFEST=<build>/install_manifest.txt -P cmake/uninstall.cmake
# (`make uninstall` passes the manifest `make install` kept, the CMake
# target `uninstall` the build tree's). Every file listed is removed, then
# every directory left empty whose name starts with "mosaik" (include/mosaik,
# lib/cmake/mosaik, share/doc/mosaik, etc/mosaik …): shared directories such
# as bin or share/man/man1 stay. The node's configuration file is not in the
# manifest (packaging/install.cmake) and is kept.
if(NOT MANIFEST OR NOT EXISTS "${MANIFEST}")
  message(FATAL_ERROR "uninstall: no install manifest '${MANIFEST}' (nothing installed from this build?)")
endif()
file(STRINGS "${MANIFEST}" files)
set(dirs "")
foreach(f IN LISTS files)
  if(IS_SYMLINK "${f}" OR EXISTS "${f}")
    message(STATUS "Removing: ${f}")
    file(REMOVE "${f}")
  endif()
  get_filename_component(d "${f}" DIRECTORY)
  list(APPEND dirs "${d}")
endforeach()
# Deepest first, so that include/mosaik goes before a parent would be looked at.
list(REMOVE_DUPLICATES dirs)
list(SORT dirs ORDER DESCENDING)
foreach(d IN LISTS dirs)
  while(d)
    get_filename_component(name "${d}" NAME)
    if(NOT name MATCHES "^mosaik" OR NOT IS_DIRECTORY "${d}")
      break()
    endif()
    file(GLOB left "${d}/*" "${d}/.*")
    if(left)
      break()
    endif()
    message(STATUS "Removing: ${d}/")
    file(REMOVE_RECURSE "${d}")
    get_filename_component(d "${d}" DIRECTORY)
  endwhile()
endforeach()
