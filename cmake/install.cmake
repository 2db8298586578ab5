# Install rules: the public headers (with the generated goro/version.hpp),
# the library, the CMake package (goroConfig.cmake, goroConfigVersion.cmake,
# goroTargets*.cmake exporting goro::goro) and goro.pc for pkg-config.
# Included by the top-level CMakeLists.txt when GORO_INSTALL is on.
include(CMakePackageConfigHelpers)

install(DIRECTORY include/goro DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/include/goro/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/goro)
install(TARGETS goro EXPORT goroTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(GORO_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/goro)
install(EXPORT goroTargets NAMESPACE goro:: DESTINATION ${GORO_CMAKE_DIR})
if(GORO_LIBRARY_TYPE STREQUAL "SHARED")
  set(GORO_PACKAGE_SHARED TRUE)
else()
  set(GORO_PACKAGE_SHARED FALSE)
endif()
configure_package_config_file(cmake/goroConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/goroConfig.cmake
  INSTALL_DESTINATION ${GORO_CMAKE_DIR})
# Before 1.0 a minor release may change the API (0.2 does not satisfy a
# request for 0.1); from 1.0 on, the major version carries compatibility.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(GORO_VERSION_COMPATIBILITY SameMinorVersion)
else()
  set(GORO_VERSION_COMPATIBILITY SameMajorVersion)
endif()
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/goroConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY ${GORO_VERSION_COMPATIBILITY})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/goroConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/goroConfigVersion.cmake
        DESTINATION ${GORO_CMAKE_DIR})

# goro.pc. Its paths are relative to the file itself (${pcfiledir}), so the
# package works wherever it is installed, `cmake --install --prefix` included.
set(GORO_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${GORO_PC_DIR}")
  set(GORO_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH GORO_PC_UP "/prefix/${GORO_PC_DIR}" "/prefix")
  string(REGEX REPLACE "/$" "" GORO_PC_UP "${GORO_PC_UP}")
  set(GORO_PC_PREFIX "\${pcfiledir}/${GORO_PC_UP}")
endif()
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(GORO_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(GORO_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()

# Flags: what goro::goro carries as usage requirements, spelled for the
# command line. C++20 itself stays the consumer's choice (-std=c++20 or
# later), as a -std in Cflags could lower a consumer's newer standard.
set(GORO_PC_CFLAGS "")
set(GORO_PC_LIBS " -pthread")
if(GORO_HAVE_STACK_CLASH_PROTECTION)
  string(APPEND GORO_PC_CFLAGS " -fstack-clash-protection")
endif()
if(GORO_SANITIZE)
  string(APPEND GORO_PC_CFLAGS " -fsanitize=${GORO_SANITIZE}")
  string(APPEND GORO_PC_LIBS " -fsanitize=${GORO_SANITIZE}")
endif()
# Boost.Context, by name, with its directory unless the linker searches it
# anyway.
get_target_property(GORO_BOOST_CONTEXT_FILE Boost::context LOCATION)
get_filename_component(GORO_BOOST_CONTEXT_DIR "${GORO_BOOST_CONTEXT_FILE}" DIRECTORY)
set(GORO_PC_BOOST "-lboost_context")
if(GORO_BOOST_CONTEXT_DIR AND NOT GORO_BOOST_CONTEXT_DIR IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
  set(GORO_PC_BOOST "-L${GORO_BOOST_CONTEXT_DIR} ${GORO_PC_BOOST}")
endif()
# A static libgoro.a is the only library installed, so every link needs
# Boost.Context: it goes in Libs, and `pkg-config --libs` and `--static`
# both give a complete link line. A shared libgoro.so records Boost.Context
# as its own dependency, so only a fully static link needs it (Libs.private).
if(GORO_LIBRARY_TYPE STREQUAL "SHARED")
  set(GORO_PC_LIBS_PRIVATE " ${GORO_PC_BOOST}")
else()
  set(GORO_PC_LIBS " ${GORO_PC_BOOST}${GORO_PC_LIBS}")
  set(GORO_PC_LIBS_PRIVATE "")
endif()
configure_file(cmake/goro.pc.in ${CMAKE_CURRENT_BINARY_DIR}/goro.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/goro.pc DESTINATION ${GORO_PC_DIR})
