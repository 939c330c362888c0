#include "linesplitter.h"

#include <cstring>

namespace {

QString decodeLine(const char *data, qsizetype size)
{
    if (size > 0 && data[size - 1] == '\r')
        --size;
    return QString::fromUtf8(data, size);
}

// Where to cut `data` at most `size` bytes long without splitting a UTF-8 sequence.
qsizetype utf8Boundary(const char *data, qsizetype size)
{
    for (qsizetype back = 1; back <= 4 && back <= size; ++back) {
        const auto byte = uchar(data[size - back]);
        if ((byte & 0xC0) == 0x80)
            continue; // a continuation byte: its lead is further back
        const qsizetype length = byte < 0x80 ? 1 : byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2;
        return back >= length ? size : size - back;
    }
    return size;
}

} // namespace

void LineSplitter::feed(const char *data, qsizetype size, QStringList &lines)
{
    const char *p = data;
    const char *const end = data + size;
    while (p < end) {
        const char *newline = static_cast<const char *>(memchr(p, '\n', size_t(end - p)));
        const char *stop = newline ? newline : end;
        const qsizetype length = stop - p;
        if (newline && m_partial.isEmpty() && m_cut == 0 && length <= MaxLineBytes) {
            lines.append(decodeLine(p, length)); // the usual case: no copy to m_partial
        } else {
            const qsizetype take = qMin(length, MaxLineBytes - m_partial.size());
            m_partial.append(p, take);
            m_cut += length - take;
            if (newline)
                takePartial(lines);
        }
        p = newline ? newline + 1 : end;
    }
}

void LineSplitter::finish(QStringList &lines)
{
    if (!m_partial.isEmpty() || m_cut > 0)
        takePartial(lines);
}

void LineSplitter::takePartial(QStringList &lines)
{
    if (m_cut == 0) {
        lines.append(decodeLine(m_partial.constData(), m_partial.size()));
    } else {
        const qsizetype keep = utf8Boundary(m_partial.constData(), m_partial.size());
        m_cut += m_partial.size() - keep;
        lines.append(QString::fromUtf8(m_partial.constData(), keep) +
                     QStringLiteral(" [taskdeck: %1 more bytes of this line cut]").arg(m_cut));
    }
    m_partial.clear();
    m_cut = 0;
}
