"""The package imports and the CLI answers --help."""

from click.testing import CliRunner

from cli.main import cli


def test_cli_help_lists_itself() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "edxbus" in result.output
