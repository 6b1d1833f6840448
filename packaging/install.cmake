# packaging/install.cmake — run by `cmake --install` (install(SCRIPT) in
# CMakeLists.txt) for what depends on the prefix chosen at install time:
#
#  - mosaik.service, whose ExecStart names <prefix>/bin/mosaik and
#    <etc>/mosaik/node.conf, into <prefix>/lib/systemd/system (or
#    MOSAIK_SYSTEMD_UNITDIR), recorded in the install manifest;
#  - <etc>/mosaik/node.conf from packaging/mosaik-node.conf, only when
#    there is none (a user's edits are never overwritten) and not recorded
#    in the manifest, so that `make uninstall` keeps it, as a package's
#    configuration is kept on removal.
#
# <etc> is /etc for the prefix /usr, else <prefix>/etc. DESTDIR is honoured
# (file(INSTALL) adds it; the paths inside the files do not contain it).
# MOSAIK_PACKAGING_DIR, MOSAIK_BUILD_DIR, MOSAIK_BINDIR and
# MOSAIK_SYSTEMD_UNITDIR are set by CMakeLists.txt before this runs.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(etc "/etc")
else()
  set(etc "${CMAKE_INSTALL_PREFIX}/etc")
endif()
if(IS_ABSOLUTE "${MOSAIK_BINDIR}")
  set(MOSAIK_BINDIR_FULL "${MOSAIK_BINDIR}")
else()
  set(MOSAIK_BINDIR_FULL "${CMAKE_INSTALL_PREFIX}/${MOSAIK_BINDIR}")
endif()
set(MOSAIK_CONF "${etc}/mosaik/node.conf")

set(MOSAIK_BINDIR "${MOSAIK_BINDIR_FULL}")
configure_file("${MOSAIK_PACKAGING_DIR}/mosaik.service.in" "${MOSAIK_BUILD_DIR}/mosaik.service"
               @ONLY)
if(MOSAIK_SYSTEMD_UNITDIR)
  set(unitdir "${MOSAIK_SYSTEMD_UNITDIR}")
else()
  set(unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
file(INSTALL DESTINATION "${unitdir}" TYPE FILE FILES "${MOSAIK_BUILD_DIR}/mosaik.service")

set(conf "$ENV{DESTDIR}${MOSAIK_CONF}")
if(EXISTS "${conf}")
  message(STATUS "Kept: ${conf}")
else()
  message(STATUS "Installing: ${conf}")
  configure_file("${MOSAIK_PACKAGING_DIR}/mosaik-node.conf" "${conf}" COPYONLY)
endif()
