#pragma once

#include <QByteArray>
#include <QStringList>

// Cuts one output stream of a process into log lines: '\n' ends a line (a '\r' before
// it is dropped) and bytes are read as UTF-8. A line longer than MaxLineBytes keeps its
// first MaxLineBytes and a marker saying how much was cut; the rest of it is skipped
// unread, so a stream costs at most MaxLineBytes whatever the script writes.
// Owned by one ProcessTask (engine thread).
class LineSplitter
{
public:
    // The task log keeps a few thousand lines (LogBuffer) and the dispatcher as many
    // again until it publishes: 4 KiB a line keeps both well under 100 MB even if every
    // line is cut.
    static constexpr qsizetype MaxLineBytes = 4096;

    // Appends the lines that `data` completes to `lines`.
    void feed(const char *data, qsizetype size, QStringList &lines);
    // Appends the unfinished last line, if any: the stream has ended.
    void finish(QStringList &lines);

private:
    void takePartial(QStringList &lines);

    QByteArray m_partial;
    qint64 m_cut = 0; // bytes of the current line skipped past MaxLineBytes
};
