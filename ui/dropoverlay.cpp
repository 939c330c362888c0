#include "dropoverlay.h"

#include <QEvent>

DropOverlay::DropOverlay(QWidget *parent)
    : QLabel(parent)
{
    setObjectName(QStringLiteral("dropOverlay"));
    setAttribute(Qt::WA_TransparentForMouseEvents);
    setAlignment(Qt::AlignCenter);
    setWordWrap(true);
    // The highlight colour of the palette, light or dark, over a veil of the window's.
    QColor veil = palette().color(QPalette::Window);
    veil.setAlpha(200);
    const QColor accent = palette().color(QPalette::Highlight);
    setStyleSheet(QStringLiteral("QLabel#dropOverlay { background: rgba(%1,%2,%3,%4); "
                                 "border: 3px dashed %5; border-radius: 8px; color: %5; "
                                 "font-size: 20px; font-weight: 600; }")
                      .arg(veil.red())
                      .arg(veil.green())
                      .arg(veil.blue())
                      .arg(veil.alpha())
                      .arg(accent.name()));
    parent->installEventFilter(this);
    hide();
}

void DropOverlay::showFor(int files)
{
    setText(tr("Drop to queue %n file(s) or folder(s)", nullptr, files));
    setGeometry(parentWidget()->rect().adjusted(8, 8, -8, -8));
    raise();
    show();
}

bool DropOverlay::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == parentWidget() && event->type() == QEvent::Resize && isVisible())
        setGeometry(parentWidget()->rect().adjusted(8, 8, -8, -8));
    return QLabel::eventFilter(watched, event);
}
