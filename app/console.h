#pragma once

#include <QByteArray>
#include <QString>

// Writing to the terminal for the command-line commands (main thread). Text that may hold
// what a script wrote (names, errors, results, log lines, file names) goes through
// escaped() (printErr and printText do it), so that no escape sequence in it reaches the
// terminal; JSON output is printed as it is (its encoder escapes control characters).
namespace Console {

// `text` with every control character shown instead of obeyed: C0 and DEL as \xHH (ESC
// as \x1b), C1 (U+0080-U+009F) as \u0080 style. `keepLayout` keeps newlines and tabs,
// for texts that are meant to span lines.
QString escaped(const QString &text, bool keepLayout = false);
// One line on stderr, in the locale's encoding, escaped.
void printErr(const QString &line);
// Text on stdout in UTF-8, escaped but for its newlines and tabs.
void printText(const QString &text);
// Bytes on stdout as they are (JSON, help).
void printOut(const QByteArray &bytes);

} // namespace Console
