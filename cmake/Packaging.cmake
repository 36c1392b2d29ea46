# Debian packages, one per program: edge-controller, edge-agent, edgectl (CPack DEB components).
#   cmake --build --preset release --target package          amd64 .debs in build/release
#   cmake --build <arm64 cross tree> --target package        arm64 .debs (same rules)
# The install() rules live beside the targets (agent/, controller/CMakeLists.txt) and use the
# destinations below. Layout, users and modes: docs/operations.md "Install as systemd services";
# the maintainer scripts are deploy/debian/*.in; tests/packaging/ checks all of it.

# Fixed absolute paths: the units and the example configs name them.
set(EDGE_INSTALL_CONFDIR /etc/edgefleet)
set(EDGE_INSTALL_UNITDIR /lib/systemd/system)

set(EDGE_PACKAGES edge-controller edge-agent edgectl)

set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL ${EDGE_PACKAGES})
set(CPACK_PACKAGE_NAME edgefleet)
set(CPACK_PACKAGE_VENDOR edgefleet)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "edgefleet maintainers <edgefleet@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Release binaries without their symbol tables (the ci tree's are ~100 MB each otherwise).
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Depends from the binaries' shared libraries. dpkg-shlibdeps matches each library's ELF ABI,
# so in the arm64 cross tree it reads the multiarch /usr/lib/aarch64-linux-gnu copies and their
# arm64 symbols files (tests/packaging checks the result against `dpkg -S` of every NEEDED).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)

# The target's Debian architecture, not the build machine's (CPack's default asks dpkg, which
# says amd64 in the cross tree too).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
else()
  message(STATUS "packaging: no Debian architecture known for ${CMAKE_SYSTEM_PROCESSOR}; CPack asks dpkg")
endif()

set(CPACK_COMPONENT_EDGE-CONTROLLER_DESCRIPTION "edgefleet controller (systemd service)
Fleet inventory, releases, rollouts and device enrollment for edgefleet gateways. Runs as the
system user edge-controller; configuration and PKI in /etc/edgefleet, state in
/var/lib/edge-controller.")
set(CPACK_COMPONENT_EDGE-AGENT_DESCRIPTION "edgefleet gateway agent (systemd service)
Enrolls with an edgefleet controller, installs signed model bundles and serves them on the
local inference socket /run/edge-agent/infer.sock. Runs as the system user edge-agent;
configuration in /etc/edgefleet, state in /var/lib/edge-agent.")
set(CPACK_COMPONENT_EDGECTL_DESCRIPTION "edgefleet operator CLI
edgectl: PKI, bundles, quantization, deployments and rollouts of an edgefleet fleet.")

foreach(pkg ${EDGE_PACKAGES})
  string(TOUPPER ${pkg} PKG)
  set(CPACK_DEBIAN_${PKG}_PACKAGE_NAME ${pkg})
endforeach()
set(CPACK_DEBIAN_EDGECTL_PACKAGE_SECTION utils)

# The two services: a static system user per service, the shared group edgefleet that may
# enter /etc/edgefleet, the state directory; conffiles for the configs.
foreach(pkg edge-controller edge-agent)
  string(TOUPPER ${pkg} PKG)
  set(EDGE_PKG ${pkg})
  if(pkg STREQUAL edge-agent)
    set(EDGE_CONFIG agent.json)
  else()
    set(EDGE_CONFIG controller.json)
  endif()
  set(dir ${CMAKE_BINARY_DIR}/debian/${pkg})
  foreach(script postinst prerm postrm)
    configure_file(${PROJECT_SOURCE_DIR}/deploy/debian/${script}.in ${dir}/${script} @ONLY
                   FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                    WORLD_READ WORLD_EXECUTE)
  endforeach()
  file(WRITE ${dir}/conffiles "${EDGE_INSTALL_CONFDIR}/${EDGE_CONFIG}\n")
  set(CPACK_DEBIAN_${PKG}_PACKAGE_CONTROL_EXTRA
      "${dir}/postinst;${dir}/prerm;${dir}/postrm;${dir}/conffiles")
  # adduser: the postinst makes the user; the rest comes from dpkg-shlibdeps.
  set(CPACK_DEBIAN_${PKG}_PACKAGE_DEPENDS "adduser")
endforeach()

include(CPack)
