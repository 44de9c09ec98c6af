# FindCAF: the C++ Actor Framework 0.17, which installs no CMake package config.
#
# Searches the default prefixes and every entry of CMAKE_PREFIX_PATH (a CUDA host gets CAF as
# unpacked Debian packages under .deps/usr). Components: core, io, openssl.
# Defines CAF_FOUND, CAF_INCLUDE_DIRS and imported targets CAF::core, CAF::io, CAF::openssl.

set(_caf_hints)
foreach(_prefix IN LISTS CMAKE_PREFIX_PATH)
  list(APPEND _caf_hints "${_prefix}")
endforeach()

find_path(CAF_INCLUDE_DIR caf/all.hpp
          HINTS ${_caf_hints} PATH_SUFFIXES include)

if(NOT CAF_FIND_COMPONENTS)
  set(CAF_FIND_COMPONENTS core io)
endif()

set(CAF_INCLUDE_DIRS "${CAF_INCLUDE_DIR}")
foreach(_comp IN LISTS CAF_FIND_COMPONENTS)
  find_library(CAF_${_comp}_LIBRARY
               NAMES caf_${_comp} libcaf_${_comp}.so.0.17.6
               HINTS ${_caf_hints}
               PATH_SUFFIXES lib lib/x86_64-linux-gnu lib64)
  if(CAF_${_comp}_LIBRARY AND CAF_INCLUDE_DIR)
    set(CAF_${_comp}_FOUND TRUE)
    if(NOT TARGET CAF::${_comp})
      add_library(CAF::${_comp} UNKNOWN IMPORTED)
      set_target_properties(CAF::${_comp} PROPERTIES
        IMPORTED_LOCATION "${CAF_${_comp}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}")
    endif()
  endif()
endforeach()

if(TARGET CAF::io AND TARGET CAF::core)
  set_property(TARGET CAF::io APPEND PROPERTY INTERFACE_LINK_LIBRARIES CAF::core)
endif()
if(TARGET CAF::openssl AND TARGET CAF::io)
  set_property(TARGET CAF::openssl APPEND PROPERTY INTERFACE_LINK_LIBRARIES CAF::io)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CAF REQUIRED_VARS CAF_INCLUDE_DIR HANDLE_COMPONENTS)
mark_as_advanced(CAF_INCLUDE_DIR)
