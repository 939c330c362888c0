#include "console.h"

#include <cstdio>

namespace Console {

QString escaped(const QString &text, bool keepLayout)
{
    auto isControl = [keepLayout](char16_t c) {
        if (keepLayout && (c == u'\n' || c == u'\t'))
            return false;
        return c < 0x20 || (c >= 0x7f && c <= 0x9f);
    };
    qsizetype first = 0;
    while (first < text.size() && !isControl(text[first].unicode()))
        ++first;
    if (first == text.size())
        return text;
    QString out = text.left(first);
    out.reserve(text.size() + 16);
    for (qsizetype i = first; i < text.size(); ++i) {
        const char16_t c = text[i].unicode();
        if (!isControl(c))
            out += QChar(c);
        else if (c < 0x80)
            out += QStringLiteral("\\x%1").arg(uint(c), 2, 16, QLatin1Char('0'));
        else
            out += QStringLiteral("\\u%1").arg(uint(c), 4, 16, QLatin1Char('0'));
    }
    return out;
}

void printErr(const QString &line)
{
    const QByteArray bytes = escaped(line).toLocal8Bit() + '\n';
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stderr);
}

void printText(const QString &text)
{
    printOut(escaped(text, true).toUtf8());
}

void printOut(const QByteArray &bytes)
{
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stdout);
}

} // namespace Console
