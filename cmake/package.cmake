# cmake/package.cmake: what `cmake --install` puts where, and the Debian package built from it with
# CPack (`make package`: ccproxy_<version>_<arch>.deb in build-pkg). Included at the end of
# CMakeLists.txt. The layout is the package's: configure with -DCMAKE_INSTALL_PREFIX=/usr (the
# Makefile does); /etc/ccproxy is absolute whatever the prefix. The maintainer scripts, the conffile
# list, the copyright file and the changelog are in packaging/debian/; the man page is docs/ccproxy.1.
#
#   /usr/bin/ccproxy                              the daemon and CLI (stripped by CPack)
#   /usr/lib/systemd/system/ccproxy.service       systemd/ccproxy.service
#   /usr/lib/sysusers.d/ccproxy.conf              systemd/ccproxy.sysusers: the system user ccproxy
#   /etc/ccproxy/managed-settings.json            conffile, conf/settings.example.json; 0640, and
#                                                 root:ccproxy once the postinst has made the group
#   /etc/ccproxy/ccproxy.env                      conffile, packaging/debian/ccproxy.env; 0600 root
#   /usr/share/man/man1/ccproxy.1.gz              docs/ccproxy.1
#   /usr/share/doc/ccproxy/                       README.md, docs/<admin pages>.md (under docs/, so
#                                                 the README's links work), copyright, changelog.gz
#   /usr/share/lintian/overrides/ccproxy          packaging/debian/ccproxy.lintian-overrides: the tags
#                                                 that are meant (the file modes above), with why

set(CP_PKG_DIR ${CMAKE_CURRENT_LIST_DIR}/../packaging/debian)
get_filename_component(CP_PKG_DIR ${CP_PKG_DIR} ABSOLUTE)
set(CP_PKG_GEN ${CMAKE_BINARY_DIR}/pkg) # the gzipped man page and changelog, made at install time

# Directories the install creates get 0755 whatever the umask (lintian checks them).
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
    WORLD_READ WORLD_EXECUTE)
set(CP_PKG_R644 OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

install(TARGETS ccproxy RUNTIME DESTINATION bin)
# CPack strips the symbols (CPACK_STRIP_FILES); these two sections are of no use either (as dh_strip).
install(CODE "execute_process(COMMAND \"${CMAKE_STRIP}\" --remove-section=.comment --remove-section=.note
                              \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin/ccproxy\" COMMAND_ERROR_IS_FATAL ANY)")
install(FILES systemd/ccproxy.service DESTINATION lib/systemd/system PERMISSIONS ${CP_PKG_R644})
install(FILES systemd/ccproxy.sysusers DESTINATION lib/sysusers.d RENAME ccproxy.conf
        PERMISSIONS ${CP_PKG_R644})

# Conffiles (packaging/debian/conffiles). The managed file is 0640: the postinst gives it the group
# ccproxy, which does not exist when the package is built; `ccproxy keys add --scope system` keeps
# its mode and group when it rewrites it. The environment file holds provider keys: root only
# (systemd reads EnvironmentFile= as root, before it switches to the service user).
install(FILES conf/settings.example.json DESTINATION /etc/ccproxy RENAME managed-settings.json
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${CP_PKG_DIR}/ccproxy.env DESTINATION /etc/ccproxy PERMISSIONS OWNER_READ OWNER_WRITE)

# The man page and the changelog, gzipped as Debian wants them (-9, no name or time stamp: the same
# bytes at every build).
install(CODE "
  file(MAKE_DIRECTORY \"${CP_PKG_GEN}\")
  foreach(pair \"${CMAKE_SOURCE_DIR}/docs/ccproxy.1;ccproxy.1.gz\" \"${CP_PKG_DIR}/changelog;changelog.gz\")
    list(GET pair 0 src)
    list(GET pair 1 dst)
    execute_process(COMMAND gzip -9n -c \${src} OUTPUT_FILE \"${CP_PKG_GEN}/\${dst}\"
                    RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR \"gzip \${src} failed\")
    endif()
  endforeach()")
install(FILES ${CP_PKG_GEN}/ccproxy.1.gz DESTINATION share/man/man1 PERMISSIONS ${CP_PKG_R644})
install(FILES ${CP_PKG_GEN}/changelog.gz ${CP_PKG_DIR}/copyright DESTINATION share/doc/ccproxy
        PERMISSIONS ${CP_PKG_R644})
install(FILES README.md DESTINATION share/doc/ccproxy PERMISSIONS ${CP_PKG_R644})
install(FILES docs/cli.md docs/configuration.md docs/deployment.md docs/team.md docs/security.md docs/providers.md
        docs/resilience.md
        DESTINATION share/doc/ccproxy/docs PERMISSIONS ${CP_PKG_R644})
install(FILES ${CP_PKG_DIR}/ccproxy.lintian-overrides DESTINATION share/lintian/overrides RENAME ccproxy
        PERMISSIONS ${CP_PKG_R644})

# The changelog's latest entry must be this version: a forgotten entry fails the package (and
# `cmake --install`), not lintian; other builds do not look.
install(CODE "
  file(STRINGS \"${CP_PKG_DIR}/changelog\" top LIMIT_COUNT 1)
  if(NOT top MATCHES \"^ccproxy \\\\(${PROJECT_VERSION}\\\\) \")
    message(FATAL_ERROR \"packaging/debian/changelog: the latest entry is not version ${PROJECT_VERSION}: \${top}\")
  endif()")

set(CCPROXY_DEB_MAINTAINER "ccproxy maintainers <ccproxy@example.org>"
    CACHE STRING "Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ccproxy)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT ${CCPROXY_DEB_MAINTAINER})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # ccproxy_0.1.0_amd64.deb: a native version, no revision
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${CCPROXY_DEB_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: what dpkg-shlibdeps finds for the binary's libraries, plus adduser (the postinst's way to
# make the user where systemd-sysusers is missing).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS adduser)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Anthropic Messages API proxy for OpenAI-compatible providers")
# The long description; CPack puts the summary line before it and indents it for the control file
# (an empty line becomes " .").
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "ccproxy lets Claude Code, and anything else that speaks the Anthropic
Messages API, use models from OpenAI, Google Gemini, OpenRouter, Anthropic
and any OpenAI- or Anthropic-compatible server: point ANTHROPIC_BASE_URL at
it, and it picks a provider and model from the request and answers in the
Anthropic format, streaming included.

As a team server it holds the provider keys and gives each developer a key
of their own, with model lists, rate limits, budgets and a usage ledger.
This package runs it as the systemd service ccproxy, as the system user
ccproxy, reading /etc/ccproxy/managed-settings.json and the provider keys
in /etc/ccproxy/ccproxy.env.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CP_PKG_DIR}/postinst ${CP_PKG_DIR}/prerm ${CP_PKG_DIR}/postrm
    ${CP_PKG_DIR}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON) # scripts 0755, conffiles 0644
include(CPack)
