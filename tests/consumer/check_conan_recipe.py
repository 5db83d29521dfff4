#!/usr/bin/env python3
"""Checks that conan/conanfile.py describes the CMake package vigil installs.

Conan is not packaged for Debian 12, so CI cannot run the recipe; instead this
reads it with Python's ast module (the recipe is never imported or executed)
and compares it with the exported targets of an installed vigil:

  - one Conan component per exported target, named vigil::<component>, plus
    an option per optional component;
  - each component needs what the matching CMake target links (through the
    table below, which maps CMake targets to Conan requirements);
  - the recipe is a header-library whose package_id is cleared.

Usage: check_conan_recipe.py CONANFILE INSTALLED_CMAKE_DIR
"""
import ast
import pathlib
import re
import sys

# What each CMake target linked by vigil's exported targets is in the recipe:
# a Conan "package::component" requirement, an internal component, or a
# system library.
CMAKE_TO_CONAN = {
    "vigil::vigil": "vigil",
    "prometheus-cpp::core": "prometheus-cpp::prometheus-cpp-core",
    "fmt::fmt": "fmt::fmt",
    "Threads::Threads": "pthread",
    "Boost::headers": "boost::headers",
    "ZLIB::ZLIB": "zlib::zlib",
    "PkgConfig::VIGIL_RDKAFKA": "librdkafka::rdkafka++",
}


def cmake_components(cmake_dir):
    """{component: set of linked CMake targets} from vigil-*-targets.cmake."""
    components = {}
    for path in sorted(pathlib.Path(cmake_dir).glob("vigil-*-targets.cmake")):
        text = path.read_text()
        for target, links in re.findall(
                r'set_target_properties\(vigil::(\w+) PROPERTIES.*?'
                r'INTERFACE_LINK_LIBRARIES "([^"]*)"', text, re.S):
            components[target] = set(links.split(";"))
    return components


def string_args(call):
    return [a.value for a in call.args
            if isinstance(a, ast.Constant) and isinstance(a.value, str)]


def recipe(conanfile):
    """The recipe's class attributes and {component: requirements}."""
    tree = ast.parse(pathlib.Path(conanfile).read_text(), conanfile)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    attrs = {}
    methods = {}
    for node in cls.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            attrs[node.targets[0].id] = ast.literal_eval(node.value)
        elif isinstance(node, ast.FunctionDef):
            methods[node.name] = node

    # package_info: `var = self._component("name")`, then
    # `self._link(var, "pkg::comp", [...])`, `var.requires.append("x")` and
    # `var.system_libs.append("lib")`.
    variables = {}
    components = {}
    for node in ast.walk(methods["package_info"]):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "attr", "") == "_component"):
            name = string_args(node.value)[0]
            variables[node.targets[0].id] = name
            components[name] = set()
    for node in ast.walk(methods["package_info"]):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if getattr(func, "attr", "") == "_link":
            components[variables[node.args[0].id]].add(string_args(node)[0])
        elif (getattr(func, "attr", "") == "append"
              and isinstance(func.value, ast.Attribute)
              and func.value.attr in ("requires", "system_libs")):
            components[variables[func.value.value.id]].add(string_args(node)[0])

    # _component must name every target vigil::<name>.
    target_names = [
        n for n in ast.walk(methods["_component"])
        if isinstance(n, ast.JoinedStr)
        and [getattr(v, "value", None) for v in n.values[:1]] == ["vigil::"]]
    package_id_clears = any(
        isinstance(n, ast.Call) and ast.unparse(n.func) == "self.info.clear"
        for n in ast.walk(methods["package_id"]))
    return attrs, components, bool(target_names), package_id_clears


def main(conanfile, cmake_dir):
    attrs, components, target_names_ok, package_id_clears = recipe(conanfile)
    cmake = {name: {CMAKE_TO_CONAN.get(t, "unmapped CMake target " + t)
                    for t in links}
             for name, links in cmake_components(cmake_dir).items()}
    errors = []
    if attrs.get("name") != "vigil":
        errors.append(f"name is {attrs.get('name')!r}, not 'vigil'")
    if attrs.get("package_type") != "header-library":
        errors.append("package_type is not header-library")
    if not package_id_clears:
        errors.append("package_id() does not call self.info.clear()")
    if not target_names_ok:
        errors.append("_component() does not name targets f'vigil::{name}'")
    if set(components) != set(cmake):
        errors.append(f"components {sorted(components)} but CMake exports "
                      f"{sorted(cmake)}")
    optional = set(cmake) - {"vigil"}
    if set(attrs.get("options", {})) != optional:
        errors.append(f"options {sorted(attrs.get('options', {}))} but "
                      f"optional components {sorted(optional)}")
    for name in sorted(set(components) & set(cmake)):
        if components[name] != cmake[name]:
            errors.append(f"component {name} needs {sorted(components[name])} "
                          f"in the recipe but {sorted(cmake[name])} in CMake")
    if not cmake:
        errors.append(f"no vigil-*-targets.cmake in {cmake_dir}")
    for error in errors:
        print("conanfile.py:", error, file=sys.stderr)
    if errors:
        return 1
    print(f"conanfile.py matches the CMake package: {sorted(components)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
