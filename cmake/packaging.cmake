# Installing and packaging (docs/deploy.md uses both as written).
#
#   cmake --install build [--prefix P]        programs in P/bin; the built-in model, the example
#                                             configs and the docs in P/share/muse (and doc/muse);
#                                             systemd units in P/lib/systemd/system; the
#                                             deployment's config and environment file in /etc/muse
#                                             for P = /usr, else in P/etc/muse (kept if present)
#   (cd build && cpack -G DEB)                a Debian package of the same, for prefix /usr, with
#                                             the service user made by its postinst; its
#                                             dependencies are read from the programs' libraries
#                                             (dpkg-shlibdeps), so build it against Debian's packages
include(GNUInstallDirs)

install(TARGETS muse-node actor-stats muse-bench muse-generate
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY model/weights/muse-tiny DESTINATION ${CMAKE_INSTALL_DATADIR}/muse/model/weights
        PATTERN README.md EXCLUDE)
# The example configs keep their relative model path: share/muse/cluster_config/local.json names
# ../model/weights/muse-tiny, which is where the model lands.
file(GLOB MUSE_EXAMPLE_CONFIGS ${CMAKE_SOURCE_DIR}/cluster_config/*.json)
install(FILES ${MUSE_EXAMPLE_CONFIGS} cluster_config/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/muse/cluster_config)
install(FILES README.md docs/deploy.md docs/benchmarks.md docs/cuda.md docs/slack.md
              model/weights/muse-tiny/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# What depends on the prefix at install time (cpack installs with its own): the units' paths,
# /etc/muse, and the deployment config's absolute model path.
install(CODE "set(MUSE_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
              set(MUSE_BINDIR_RELATIVE \"${CMAKE_INSTALL_BINDIR}\")
              set(MUSE_DATADIR_RELATIVE \"${CMAKE_INSTALL_DATADIR}\")
              set(MUSE_DOCDIR_RELATIVE \"${CMAKE_INSTALL_DOCDIR}\")")
install(SCRIPT cmake/install_configured.cmake)

set(CPACK_PACKAGE_NAME muse)
set(CPACK_PACKAGE_VENDOR "Muse")
set(CPACK_PACKAGE_CONTACT "Muse maintainers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Distributed text-to-image diffusion server")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
# Install into a staging root with the real prefix, so that the install script's /etc lands in the
# package.
set(CPACK_SET_DESTDIR ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/tools/packaging/postinst ${CMAKE_SOURCE_DIR}/tools/packaging/prerm
    ${CMAKE_SOURCE_DIR}/tools/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_GENERATOR DEB)
include(CPack)
