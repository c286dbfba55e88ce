# FindSOCI: SOCI 4.0 as packaged by Debian ships no CMake configuration, so locate it here.
# Provides SOCI::core and SOCI::<backend> for each requested component (sqlite3, postgresql).
include(FindPackageHandleStandardArgs)

find_path(SOCI_INCLUDE_DIR NAMES soci/soci.h)
find_library(SOCI_CORE_LIBRARY NAMES soci_core)

set(_soci_required_vars SOCI_INCLUDE_DIR SOCI_CORE_LIBRARY)
foreach(_component IN LISTS SOCI_FIND_COMPONENTS)
  find_library(SOCI_${_component}_LIBRARY NAMES soci_${_component})
  if(SOCI_${_component}_LIBRARY)
    set(SOCI_${_component}_FOUND TRUE)
  endif()
  if(SOCI_FIND_REQUIRED_${_component})
    list(APPEND _soci_required_vars SOCI_${_component}_LIBRARY)
  endif()
endforeach()

find_package_handle_standard_args(SOCI REQUIRED_VARS ${_soci_required_vars} HANDLE_COMPONENTS)

if(SOCI_FOUND AND NOT TARGET SOCI::core)
  add_library(SOCI::core UNKNOWN IMPORTED)
  set_target_properties(SOCI::core PROPERTIES
    IMPORTED_LOCATION "${SOCI_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SOCI_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${CMAKE_DL_LIBS}")
  foreach(_component IN LISTS SOCI_FIND_COMPONENTS)
    if(SOCI_${_component}_FOUND)
      add_library(SOCI::${_component} UNKNOWN IMPORTED)
      set_target_properties(SOCI::${_component} PROPERTIES
        IMPORTED_LOCATION "${SOCI_${_component}_LIBRARY}"
        INTERFACE_LINK_LIBRARIES SOCI::core)
    endif()
  endforeach()
endif()
mark_as_advanced(SOCI_INCLUDE_DIR SOCI_CORE_LIBRARY)
