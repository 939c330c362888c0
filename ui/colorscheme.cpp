#include "colorscheme.h"

#include <QApplication>
#include <QStyle>
#include <QStyleFactory>

namespace {

ColorScheme::Scheme s_current = ColorScheme::System;
QString s_systemStyle; // the style before the first change, to go back to
QPalette s_systemPalette;

} // namespace

QPalette ColorScheme::darkPalette()
{
    QPalette p;
    const QColor window(0x2b, 0x2d, 0x30);
    const QColor base(0x1e, 0x1f, 0x22);
    const QColor text(0xe6, 0xe6, 0xe6);
    const QColor disabled(0x80, 0x80, 0x80);
    p.setColor(QPalette::Window, window);
    p.setColor(QPalette::WindowText, text);
    p.setColor(QPalette::Base, base);
    p.setColor(QPalette::AlternateBase, QColor(0x26, 0x28, 0x2b));
    p.setColor(QPalette::ToolTipBase, window);
    p.setColor(QPalette::ToolTipText, text);
    p.setColor(QPalette::PlaceholderText, disabled);
    p.setColor(QPalette::Text, text);
    p.setColor(QPalette::Button, QColor(0x35, 0x37, 0x3b));
    p.setColor(QPalette::ButtonText, text);
    p.setColor(QPalette::BrightText, Qt::white);
    p.setColor(QPalette::Light, QColor(0x45, 0x47, 0x4b));
    p.setColor(QPalette::Midlight, QColor(0x3a, 0x3c, 0x40));
    p.setColor(QPalette::Mid, QColor(0x2f, 0x31, 0x34));
    p.setColor(QPalette::Dark, QColor(0x18, 0x19, 0x1b));
    p.setColor(QPalette::Shadow, Qt::black);
    p.setColor(QPalette::Highlight, QColor(0x3d, 0x7a, 0xd6));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::Link, QColor(0x6c, 0xa8, 0xf0));
    p.setColor(QPalette::LinkVisited, QColor(0xb0, 0x8c, 0xf0));
    for (QPalette::ColorRole role : {QPalette::Text, QPalette::WindowText, QPalette::ButtonText})
        p.setColor(QPalette::Disabled, role, disabled);
    return p;
}

void ColorScheme::apply(Scheme scheme)
{
    if (s_systemStyle.isEmpty()) {
        s_systemStyle = QApplication::style()->name();
        s_systemPalette = QApplication::palette();
    }
    s_current = scheme;
    if (scheme == System) {
        QApplication::setStyle(QStyleFactory::create(s_systemStyle));
        QApplication::setPalette(s_systemPalette);
        return;
    }
    // Fusion draws from the palette alone, so both schemes look as meant everywhere.
    QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    QApplication::setPalette(scheme == Dark ? darkPalette()
                                            : QApplication::style()->standardPalette());
}

ColorScheme::Scheme ColorScheme::current()
{
    return s_current;
}

QString ColorScheme::name(Scheme scheme)
{
    switch (scheme) {
    case Light:
        return QStringLiteral("light");
    case Dark:
        return QStringLiteral("dark");
    case System:
        break;
    }
    return QStringLiteral("system");
}

ColorScheme::Scheme ColorScheme::fromName(const QString &name)
{
    if (name == u"light")
        return Light;
    if (name == u"dark")
        return Dark;
    return System;
}
