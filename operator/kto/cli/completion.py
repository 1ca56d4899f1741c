"""``kto completion bash|zsh|fish``: a completion script generated from kto's own argparse parser, so it never
falls behind the flags; hidden options (``help=argparse.SUPPRESS``) are never offered. zsh uses the bash script
through bashcompinit (zsh's bash-completion layer), after the user's own compinit."""

from __future__ import annotations

import argparse

# Options whose value is a path: completed with file names.
PATH_OPTIONS = {"filename", "dir", "password_file", "ca_file", "kubeconfig"}
# Options completed from the live cluster: KafkaClusters as NS/NAME.
CLUSTER_LIST = ("kubectl get kafkaclusters -A -o jsonpath="
                "'{range .items[*]}{.metadata.namespace}/{.metadata.name} {end}' 2>/dev/null")


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands and their parsers, in order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def shown(sub: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options a person is offered: not the hidden ones."""
    return [a for a in sub._actions if a.help != argparse.SUPPRESS]


def value_cases(name: str, sub: argparse.ArgumentParser) -> list[str]:
    """``case`` arms completing the value of each option of one subcommand that takes a value."""
    arms = []
    for action in shown(sub):
        if not action.option_strings or action.nargs == 0:
            continue
        flags = "|".join(f'"{name} {o}"' for o in action.option_strings)
        if action.choices:
            words = " ".join(str(c) for c in action.choices)
            arms.append(f'    {flags}) COMPREPLY=($(compgen -W "{words}" -- "$cur")); return;;')
        elif action.dest in PATH_OPTIONS:
            arms.append(f'    {flags}) COMPREPLY=($(compgen -f -- "$cur")); return;;')
        elif action.dest == "cluster":
            arms.append(f'    {flags}) COMPREPLY=($(compgen -W "$({CLUSTER_LIST})" -- "$cur")); return;;')
        else:
            arms.append(f"    {flags}) return;;")
    return arms


def bash(parser: argparse.ArgumentParser) -> str:
    subs = commands(parser)
    values = [arm for name, sub in subs.items() for arm in value_cases(name, sub)]
    options = []
    for name, sub in subs.items():
        flags = " ".join(o for a in shown(sub) for o in a.option_strings)
        positional = " ".join(str(c) for a in sub._actions if not a.option_strings and a.choices for c in a.choices)
        options.append(f'    {name}) COMPREPLY=($(compgen -W "{flags} {positional}" -- "$cur"));;')
    return "\n".join([
        "# kto completion for bash: source <(kto completion bash), or save it as",
        "# /etc/bash_completion.d/kto",
        "_kto() {",
        '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" cmd="${COMP_WORDS[1]}"',
        "  if [[ $COMP_CWORD -eq 1 ]]; then",
        f'    COMPREPLY=($(compgen -W "{" ".join(subs)}" -- "$cur")); return',
        "  fi",
        '  case "$cmd $prev" in',
        *values,
        "  esac",
        '  case "$cmd" in',
        *options,
        "  esac",
        "}",
        "complete -o default -F _kto kto",
        "",
    ])


def zsh(parser: argparse.ArgumentParser) -> str:
    return ("# kto completion for zsh: source <(kto completion zsh) in ~/.zshrc, after your compinit\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + bash(parser))


def helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each subcommand's one-line help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: str(a.help or a.dest) for a in action._choices_actions}
    return {}


def fish(parser: argparse.ArgumentParser) -> str:
    subs, described = commands(parser), helps(parser)
    lines = ["# kto completion for fish: kto completion fish > ~/.config/fish/completions/kto.fish",
             "complete -c kto -f"]
    for name, sub in subs.items():
        about = described.get(name, name).split(" (")[0][:60]
        lines.append(f"complete -c kto -n __fish_use_subcommand -a {name} -d {_quote(about)}")
        when = f"-n '__fish_seen_subcommand_from {name}'"
        for action in shown(sub):
            if not action.option_strings:
                if action.choices:
                    lines.append(f"complete -c kto {when} -a {_quote(' '.join(map(str, action.choices)))}")
                continue
            lines.append(f"complete -c kto {when} {_fish_option(action)}")
    return "\n".join(lines) + "\n"


def _fish_option(action: argparse.Action) -> str:
    parts = [f"-l {o[2:]}" if o.startswith("--") else f"-s {o[1:]}" for o in action.option_strings]
    if action.nargs != 0:
        if action.choices:
            parts.append(f"-x -a {_quote(' '.join(map(str, action.choices)))}")
        elif action.dest in PATH_OPTIONS:
            parts.append("-r -F")
        elif action.dest == "cluster":
            parts.append(f"-x -a {_quote('(' + CLUSTER_LIST + ')')}")
        else:
            parts.append("-x")
    if action.help:
        parts.append(f"-d {_quote(str(action.help).split(' (')[0][:60])}")
    return " ".join(parts)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    return {"bash": bash, "zsh": zsh, "fish": fish}[shell](parser)
