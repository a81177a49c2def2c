# import.awk - a fork's Python/import.c (CPython 3.13, 3.14) whose frozen
# module lookups search frozen.c's sorted sections (look_up_frozen.c)
# instead of scanning them with strcmp: with a whole standard library
# frozen, a scan costs hundreds of compares per import.
#
#   awk -f import.awk Python/import.c > import.c    (compile with -I this dir)
#
# look_up_frozen() and resolve_module_alias() keep their signatures; their
# bodies become calls to look_up_frozen.c's functions, included just above
# look_up_frozen() (they use use_frozen(), defined above it). Exits 1 unless
# each function is found exactly once.
#
# MIT License. See LICENSE.
{ l[NR] = $0 }
END {
    for (i = 1; i <= NR; i++) {
        if (l[i] == "static bool" && l[i + 1] ~ /^resolve_module_alias\(const char \*name, /) {
            print "static bool objfreeze_resolve_module_alias(const char *, const struct _module_alias *, const char **);"
            for (; i <= NR && l[i] != "{"; i++) print l[i]
            print "{"
            print "    return objfreeze_resolve_module_alias(name, aliases, alias);"
            print "}"
            for (; i <= NR && l[i] != "}"; i++) ;
            alias++
            continue
        }
        if (l[i] == "static const struct _frozen *" && l[i + 1] == "look_up_frozen(const char *name)") {
            print "#include \"look_up_frozen.c\""
            print l[i]
            print l[i + 1]
            print "{"
            print "    return objfreeze_look_up_frozen(name);"
            print "}"
            for (i += 2; i <= NR && l[i] != "}"; i++) ;
            look++
            continue
        }
        print l[i]
    }
    if (alias != 1 || look != 1) {
        print "import.awk: look_up_frozen() or resolve_module_alias() not found once (" look + 0 ", " alias + 0 "): not 3.13's or 3.14's import.c" > "/dev/stderr"
        exit 1
    }
}
