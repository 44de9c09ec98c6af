# Run by `cmake --install` (cmake/packaging.cmake sets MUSE_* first): the files whose content or
# place depends on the install prefix, which is only known now.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(sysconfdir "/etc")
else()
  set(sysconfdir "${prefix}/etc")
endif()
set(MUSE_BINDIR "${prefix}/${MUSE_BINDIR_RELATIVE}")
set(MUSE_SYSCONFDIR "${sysconfdir}")
set(MUSE_DOCDIR "${prefix}/${MUSE_DOCDIR_RELATIVE}")
set(model "${prefix}/${MUSE_DATADIR_RELATIVE}/muse/model/weights/muse-tiny")
set(root "$ENV{DESTDIR}")

set(units "${root}${prefix}/lib/systemd/system")
file(MAKE_DIRECTORY "${units}")
foreach(unit muse-gateway.service muse-gpu@.service)
  configure_file("${MUSE_SOURCE_DIR}/tools/packaging/${unit}.in" "${units}/${unit}" @ONLY)
  message(STATUS "Installing: ${units}/${unit}")
endforeach()

# The deployment's config starts as the single-machine one, its model path made absolute; an
# existing one (the operator's) is left as it is.
set(etc "${root}${sysconfdir}/muse")
file(MAKE_DIRECTORY "${etc}")
if(NOT EXISTS "${etc}/cluster.json")
  file(READ "${MUSE_SOURCE_DIR}/cluster_config/local.json" config)
  string(REPLACE "\"../model/weights/muse-tiny\"" "\"${model}\"" config "${config}")
  string(REPLACE "cluster_config/local.json" "${sysconfdir}/muse/cluster.json" config "${config}")
  string(REPLACE "described in README.md" "described in ${prefix}/${MUSE_DATADIR_RELATIVE}/muse/cluster_config/README.md"
         config "${config}")
  file(WRITE "${etc}/cluster.json" "${config}")
  message(STATUS "Installing: ${etc}/cluster.json")
endif()
if(NOT EXISTS "${etc}/environment")
  file(COPY "${MUSE_SOURCE_DIR}/tools/packaging/environment" DESTINATION "${etc}"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
  message(STATUS "Installing: ${etc}/environment")
endif()
