//! `trader completions SHELL`: completion scripts that know the trading
//! language, not just the command line's shape. clap's generators offer
//! only clap's subcommands (the internal ones included) and nothing after
//! them; these offer the trading and owner's commands, the instruments and
//! options clap shows in `--help`, and each command's arguments as its
//! usage says, with the currencies of the exchange named on the line
//! (read with `trader rates --json`), or the default ones when it cannot
//! be reached.
#![forbid(unsafe_code)]

use clap::{Command, CommandFactory, ValueEnum};

use shm_exchange::command::COMMANDS;
use shm_exchange::complete::{command_names, placeholders};
use shm_exchange::MarketConfig;

use crate::cli::TraderArgs;

/// The shells a script is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The long options a command shows in `--help`: (`--name`, takes a value).
fn options(command: &Command) -> Vec<(String, bool)> {
    command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| {
            arg.get_long()
                .map(|long| (format!("--{long}"), arg.get_action().takes_values()))
        })
        .collect()
}

/// The instruments `--help` lists (no internal ones).
fn instruments(command: &Command) -> Vec<&Command> {
    command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .collect()
}

/// What Tab offers for a usage placeholder, as a shell word list: `@CUR`
/// stands for the exchange's currencies.
fn choices(placeholder: &str) -> Option<String> {
    match placeholder {
        "CUR" => Some("@CUR".to_owned()),
        "[CMD]" => Some(command_names().collect::<Vec<_>>().join(" ")),
        choices if choices.contains('|') => Some(
            choices
                .trim_matches(|c| c == '[' || c == ']')
                .replace('|', " "),
        ),
        _ => None,
    }
}

/// Every (command, argument index, choices) the language completes.
fn argument_choices() -> Vec<(&'static str, usize, String)> {
    COMMANDS
        .iter()
        .flat_map(|spec| {
            placeholders(spec)
                .into_iter()
                .enumerate()
                .filter_map(move |(index, placeholder)| {
                    choices(placeholder).map(|choices| (spec.name, index, choices))
                })
        })
        .collect()
}

/// The commands worth a command line: all but `quit` and its aliases,
/// which only a REPL or a script needs.
fn command_line_commands() -> Vec<&'static str> {
    COMMANDS
        .iter()
        .map(|spec| spec.name)
        .filter(|name| *name != "quit")
        .collect()
}

fn default_currencies() -> String {
    MarketConfig::default()
        .currencies
        .iter()
        .map(|currency| currency.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The bash script: a `_trader` function and its `complete` line.
pub fn bash() -> String {
    let trader = TraderArgs::command();
    let mut global: Vec<(String, bool)> = options(&trader);
    global.push(("--help".into(), false));
    global.push(("--version".into(), false));
    let mut valued: Vec<String> = global
        .iter()
        .filter(|(_, takes)| *takes)
        .map(|(long, _)| long.clone())
        .collect();
    let instruments = instruments(&trader);
    let mut instrument_options = String::new();
    for instrument in &instruments {
        let own = options(instrument);
        valued.extend(
            own.iter()
                .filter(|(_, takes)| *takes)
                .map(|(long, _)| long.clone()),
        );
        if !own.is_empty() {
            let words: Vec<&str> = own.iter().map(|(long, _)| long.as_str()).collect();
            instrument_options.push_str(&format!(
                "        {}) options+=\" {}\" ;;\n",
                instrument.get_name(),
                words.join(" ")
            ));
        }
    }
    valued.sort();
    valued.dedup();
    let mut arguments = String::new();
    for (command, index, choices) in argument_choices() {
        let words = if choices == "@CUR" {
            "$(_trader_currencies \"$program\" \"$segment\")".to_owned()
        } else {
            choices
        };
        arguments.push_str(&format!(
            "        \"{command} {index}\") choices=\"{words}\" ;;\n"
        ));
    }
    arguments.push_str(&format!(
        "        \"completions 0\") choices=\"{}\" ;;\n",
        Shell::value_variants()
            .iter()
            .filter_map(|shell| shell.to_possible_value())
            .map(|value| value.get_name().to_owned())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let mut first_words = command_line_commands();
    first_words.extend(instruments.iter().map(|instrument| instrument.get_name()));
    let global_words: Vec<&str> = global.iter().map(|(long, _)| long.as_str()).collect();
    BASH_TEMPLATE
        .replace("@DEFAULT_CURRENCIES@", &default_currencies())
        .replace("@VALUED@", &valued.join("|"))
        .replace("@GLOBAL_OPTIONS@", &global_words.join(" "))
        .replace("@INSTRUMENT_OPTIONS@\n", &instrument_options)
        .replace("@FIRST_WORDS@", &first_words.join(" "))
        .replace("@ARGUMENTS@\n", &arguments)
}

const BASH_TEMPLATE: &str = r#"# bash completion for trader (`trader completions bash`): the trading and
# owner's commands, the instruments, the options, and each command's
# arguments, with the currencies of the exchange named on the line.

# The currencies of the exchange (the one --segment names, else the
# default), one a line; the default market's when it cannot be reached.
_trader_currencies() {
    local names
    names=$("$1" ${2:+--segment "$2"} rates --json 2>/dev/null \
        | grep -o '"name":"[^"]*"' | sed 's/^"name":"//; s/"$//')
    printf '%s\n' "${names:-@DEFAULT_CURRENCIES@}"
}

_trader() {
    # The words up to the cursor, split on blanks only (a segment address
    # has colons, which bash's own word splitting breaks at).
    local -a words
    if [[ -n ${COMP_LINE-} ]]; then
        local line=${COMP_LINE:0:COMP_POINT}
        read -ra words <<<"$line"
        [[ -z $line || $line == *[[:blank:]] ]] && words+=("")
    else
        words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
    fi
    local last=$((${#words[@]} - 1))
    local cur=${words[last]} prev=
    ((last > 0)) && prev=${words[last - 1]}
    local program=${words[0]} segment= command= i word
    local -a arguments=()
    for ((i = 1; i < last; i++)); do
        word=${words[i]}
        case $word in
            --segment) segment=${words[i + 1]}; ((i++)) ;;
            --segment=*) segment=${word#--segment=} ;;
            @VALUED@) ((i++)) ;;
            -*) ;;
            *) if [[ -z $command ]]; then command=$word; else arguments+=("$word"); fi ;;
        esac
    done
    COMPREPLY=()
    case $prev in
        --script) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
        @VALUED@) return ;;
    esac
    if [[ $cur == -* ]]; then
        local options="@GLOBAL_OPTIONS@"
        case $command in
@INSTRUMENT_OPTIONS@
        esac
        mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
        return
    fi
    local choices=
    if [[ -z $command ]]; then
        choices="@FIRST_WORDS@"
    else
        case "$command ${#arguments[@]}" in
@ARGUMENTS@
        esac
    fi
    mapfile -t COMPREPLY < <(compgen -W "$choices" -- "$cur")
}

complete -F _trader trader
"#;

/// The zsh script: the bash one, through zsh's bashcompinit.
fn zsh() -> String {
    format!(
        "#compdef trader\n\
         # zsh completion for trader (`source <(trader completions zsh)` in ~/.zshrc)\n\
         autoload -U +X compinit && compinit\n\
         autoload -U +X bashcompinit && bashcompinit\n{}",
        bash()
    )
}

/// The fish script: the first word, and currencies after the commands
/// that take one first.
fn fish() -> String {
    let trader = TraderArgs::command();
    let mut first_words = command_line_commands();
    first_words.extend(instruments(&trader).iter().map(|sub| sub.get_name()));
    let mut script = String::from(
        "# fish completion for trader (`trader completions fish`)\ncomplete -c trader -f\n",
    );
    script.push_str(&format!(
        "complete -c trader -n '__fish_use_subcommand' -a '{}'\n",
        first_words.join(" ")
    ));
    let currency_first: Vec<&str> = argument_choices()
        .into_iter()
        .filter(|(_, index, choices)| *index == 0 && choices == "@CUR")
        .map(|(command, _, _)| command)
        .collect();
    script.push_str(&FISH_CURRENCIES.replace("@DEFAULT_CURRENCIES@", &default_currencies()));
    script.push_str(&format!(
        "complete -c trader -n '__fish_seen_subcommand_from {}' -a '(__trader_currencies)'\n",
        currency_first.join(" ")
    ));
    for (long, takes) in options(&trader) {
        let long = long.trim_start_matches("--");
        let value = if takes { " -r" } else { "" };
        script.push_str(&format!("complete -c trader -l {long}{value}\n"));
    }
    script
}

const FISH_CURRENCIES: &str = r#"function __trader_currencies
    set -l names (trader rates --json 2>/dev/null | string match -ar '"name":"[^"]*"' | string replace -r '^"name":"(.*)"$' '$1')
    test (count $names) -gt 0; or set names (string split ' ' '@DEFAULT_CURRENCIES@')
    printf '%s\n' $names
end
"#;

/// The script for `shell`.
pub fn script(shell: Shell) -> String {
    match shell {
        Shell::Bash => bash(),
        Shell::Zsh => zsh(),
        Shell::Fish => fish(),
    }
}

/// How to install each script, for `trader completions --help`.
pub const EXAMPLES: &str = "\
Examples:
  mkdir -p ~/.local/share/bash-completion/completions
  trader completions bash \\
      > ~/.local/share/bash-completion/completions/trader
  echo 'source <(trader completions zsh)' >> ~/.zshrc
  trader completions fish > ~/.config/fish/completions/trader.fish

The bash-completion package reads that folder; without it, add
`source <(trader completions bash)` to ~/.bashrc.";
