#include "statestyle.h"

#include <QGuiApplication>
#include <QHash>
#include <QPainter>
#include <QPalette>
#include <QPixmap>

QString StateStyle::label(TaskState state)
{
    switch (state) {
    case TaskState::Pending:
        return QObject::tr("pending");
    case TaskState::Running:
        return QObject::tr("running");
    case TaskState::Succeeded:
        return QObject::tr("succeeded");
    case TaskState::Failed:
        return QObject::tr("failed");
    case TaskState::TimedOut:
        return QObject::tr("timed out");
    case TaskState::Cancelled:
        return QObject::tr("cancelled");
    case TaskState::Interrupted:
        return QObject::tr("interrupted");
    }
    return {};
}

bool StateStyle::isDark(const QPalette &palette)
{
    return palette.color(QPalette::Base).lightness() < 128;
}

QColor StateStyle::color(TaskState state, const QPalette &palette)
{
    const bool dark = isDark(palette);
    switch (state) {
    case TaskState::Pending:
        return palette.color(QPalette::PlaceholderText);
    case TaskState::Running:
        return dark ? QColor(0x6c, 0xb4, 0xf5) : QColor(0x1d, 0x63, 0xb8);
    case TaskState::Succeeded:
        return dark ? QColor(0x6f, 0xcf, 0x86) : QColor(0x23, 0x84, 0x3d);
    case TaskState::Failed:
        return dark ? QColor(0xf2, 0x7a, 0x70) : QColor(0xc0, 0x2b, 0x22);
    case TaskState::TimedOut:
        return dark ? QColor(0xf0, 0xb2, 0x5a) : QColor(0xb0, 0x62, 0x00);
    case TaskState::Cancelled:
        return dark ? QColor(0xb0, 0xa4, 0xd8) : QColor(0x6a, 0x5a, 0x9c);
    case TaskState::Interrupted:
        // Magenta: neither a failure (red) nor the user's own cancel (violet).
        return dark ? QColor(0xf0, 0x8a, 0xc8) : QColor(0xa8, 0x1f, 0x6e);
    }
    return palette.color(QPalette::Text);
}

namespace {

// A 16-unit glyph in the state's colour: a disc with a mark (check, cross, clock...),
// drawn at a few sizes so it stays crisp on high-dpi screens.
QPixmap drawStateIcon(TaskState state, int size)
{
    QPixmap pixmap(size, size);
    pixmap.fill(Qt::transparent);
    QPainter p(&pixmap);
    p.setRenderHint(QPainter::Antialiasing);
    p.scale(size / 16.0, size / 16.0);
    // Mid-tone colours: readable on light and dark backgrounds alike.
    QColor fill;
    switch (state) {
    case TaskState::Pending:
        fill = QColor(0x8a, 0x8f, 0x98);
        break;
    case TaskState::Running:
        fill = QColor(0x2f, 0x80, 0xd8);
        break;
    case TaskState::Succeeded:
        fill = QColor(0x2e, 0xa0, 0x4f);
        break;
    case TaskState::Failed:
        fill = QColor(0xd9, 0x3a, 0x30);
        break;
    case TaskState::TimedOut:
        fill = QColor(0xe0, 0x8a, 0x10);
        break;
    case TaskState::Cancelled:
        fill = QColor(0x7d, 0x6b, 0xc2);
        break;
    case TaskState::Interrupted:
        fill = QColor(0xc2, 0x2f, 0x86);
        break;
    }
    QPen mark(Qt::white, 1.8, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin);
    if (state == TaskState::Pending) {
        p.setPen(QPen(fill, 1.6));
        p.setBrush(Qt::NoBrush);
        p.drawEllipse(QRectF(2, 2, 12, 12));
        p.setPen(QPen(fill, 1.4, Qt::SolidLine, Qt::RoundCap));
        p.drawLine(QPointF(8, 8), QPointF(8, 4.8));
        p.drawLine(QPointF(8, 8), QPointF(10.4, 9.4));
        return pixmap;
    }
    p.setPen(Qt::NoPen);
    p.setBrush(fill);
    p.drawEllipse(QRectF(1, 1, 14, 14));
    p.setPen(mark);
    p.setBrush(Qt::NoBrush);
    const auto fillWhite = [&p](std::initializer_list<QPointF> corners) {
        p.save();
        p.setPen(Qt::NoPen);
        p.setBrush(Qt::white);
        p.drawPolygon(QPolygonF(QList<QPointF>(corners)));
        p.restore();
    };
    switch (state) {
    case TaskState::Running: // a play triangle
        fillWhite({{6.3, 4.8}, {11.4, 8}, {6.3, 11.2}});
        break;
    case TaskState::Succeeded:
        p.drawPolyline(QPolygonF({QPointF(4.8, 8.3), QPointF(7.1, 10.5), QPointF(11.3, 5.6)}));
        break;
    case TaskState::Failed:
        p.drawLine(QPointF(5.5, 5.5), QPointF(10.5, 10.5));
        p.drawLine(QPointF(10.5, 5.5), QPointF(5.5, 10.5));
        break;
    case TaskState::TimedOut:
        p.drawLine(QPointF(8, 8), QPointF(8, 4.5));
        p.drawLine(QPointF(8, 8), QPointF(10.8, 9.6));
        break;
    case TaskState::Cancelled:
        p.drawLine(QPointF(5, 8), QPointF(11, 8));
        break;
    case TaskState::Interrupted: // a lightning bolt: cut short by a power cut, a crash or a kill
        fillWhite({{9.9, 2.6}, {4.5, 9.1}, {7.6, 9.1}, {6.1, 13.4}, {11.5, 6.9}, {8.4, 6.9}});
        break;
    case TaskState::Pending:
        break;
    }
    return pixmap;
}

} // namespace

QIcon StateStyle::icon(TaskState state)
{
    static QHash<int, QIcon> cache;
    QIcon &icon = cache[int(state)];
    if (icon.isNull()) {
        for (int size : {16, 24, 32, 48})
            icon.addPixmap(drawStateIcon(state, size));
    }
    return icon;
}
