# edge_embed_migrations(<target> <namespace> <sql files...>)
# Generates a source that defines `std::span<const edge::sqlite::Migration> <namespace>::Migrations()`
# from numbered files NNN_name.sql, embedded at build time. Migrations that have landed are
# never edited: add a new file instead.
function(edge_embed_migrations target ns)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_migrations.cpp)
  set(body "")
  foreach(f ${ARGN})
    get_filename_component(name ${f} NAME_WE)
    string(REGEX MATCH "^[0-9]+" num ${name})
    string(REGEX REPLACE "^0+" "" num ${num})
    file(READ ${CMAKE_CURRENT_SOURCE_DIR}/${f} sql)
    string(APPEND body "  {${num}, \"${name}\", R\"edgesql(${sql})edgesql\"},\n")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${f})
  endforeach()
  file(WRITE ${out}.in "// Generated from ${ARGN}. Do not edit.\n#include <span>\n#include \"common/sqlite/db.h\"\nnamespace ${ns} {\nstatic const edge::sqlite::Migration kMigrations[] = {\n${body}};\nstd::span<const edge::sqlite::Migration> Migrations() { return kMigrations; }\n}\n")
  configure_file(${out}.in ${out} COPYONLY)
  target_sources(${target} PRIVATE ${out})
endfunction()
