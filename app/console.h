#pragma once

#include <QByteArray>
#include <QString>

// Writing to the terminal for the command-line commands (main thread).
namespace Console {

// One line on stderr, in the locale's encoding.
void printErr(const QString &line);
// Bytes on stdout as they are.
void printOut(const QByteArray &bytes);

} // namespace Console
